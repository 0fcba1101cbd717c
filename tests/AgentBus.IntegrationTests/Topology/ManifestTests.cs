using System.Text.Json;

namespace AgentBus.IntegrationTests.Topology;

public sealed class ManifestTests
{
    [Fact]
    public async Task Committed_manifest_matches_the_AppHost()
    {
        var ct = TestContext.Current.CancellationToken;
        var root = Repository.Root;
        var committed = await File.ReadAllTextAsync(Path.Combine(root, "aspire-manifest.json"), ct);
        var fresh = await AppHostManifest.PublishAsync("aspire-manifest.check.json", ct);
        Assert.True(committed == fresh,
            "aspire-manifest.json is stale: regenerate it with `dotnet run --project src/AgentBus.AppHost -- --publisher manifest --output-path ../../aspire-manifest.json`.");
    }

    [Fact]
    public async Task Manifest_has_three_projects_the_migrations_and_container_postgres_and_redis()
    {
        var ct = TestContext.Current.CancellationToken;
        using var manifest = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(Repository.Root, "aspire-manifest.json"), ct));
        var resources = manifest.RootElement.GetProperty("resources");
        foreach (var project in new[] { "api", "worker", "gpu-agent" })
        {
            Assert.Equal("project.v0", resources.GetProperty(project).GetProperty("type").GetString());
            var env = resources.GetProperty(project).GetProperty("env");
            // The services log in as the app role; only the migrations get the administrator's string.
            Assert.Equal("{agentbus-app.connectionString}", env.GetProperty("ConnectionStrings__agentbus").GetString());
            Assert.Equal("{redis.connectionString}", env.GetProperty("ConnectionStrings__redis").GetString());
        }
        Assert.Equal("container.v0", resources.GetProperty("postgres").GetProperty("type").GetString());
        Assert.Equal("container.v0", resources.GetProperty("redis").GetProperty("type").GetString());
        Assert.Equal("{postgres.connectionString};Database=agentbus", resources.GetProperty("agentbus").GetProperty("connectionString").GetString());
        Assert.Equal("Host={postgres.bindings.tcp.host};Port={postgres.bindings.tcp.port};Username=agentbus_app;Password={postgres-app-password.value};Database=agentbus",
            resources.GetProperty("agentbus-app").GetProperty("connectionString").GetString());
        var migrations = resources.GetProperty("migrations");
        Assert.Equal("project.v0", migrations.GetProperty("type").GetString());
        Assert.Equal("{agentbus.connectionString}", migrations.GetProperty("env").GetProperty("ConnectionStrings__agentbus").GetString());
        Assert.Equal("{agentbus-app.connectionString}", migrations.GetProperty("env").GetProperty("ConnectionStrings__agentbus-app").GetString());
        Assert.DoesNotContain(resources.EnumerateObject(), r => r.Name != "migrations" && r.Value.TryGetProperty("env", out var env)
            && env.EnumerateObject().Any(e => e.Value.GetString() == "{agentbus.connectionString}"));
    }
}
