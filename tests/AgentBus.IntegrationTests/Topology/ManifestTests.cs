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
    public async Task Manifest_has_three_projects_the_migrations_container_postgres_and_redis_and_their_exporters()
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
        Assert.Equal("{agentbus-monitor.connectionString}", migrations.GetProperty("env").GetProperty("ConnectionStrings__agentbus-monitor").GetString());
        Assert.DoesNotContain(resources.EnumerateObject(), r => r.Name != "migrations" && r.Value.TryGetProperty("env", out var env)
            && env.EnumerateObject().Any(e => e.Value.GetString() == "{agentbus.connectionString}"));

        // The exporters as their pinned images, settings in the environment only (no argument can hold a password).
        var postgresExporter = resources.GetProperty("postgres-exporter");
        Assert.Equal("container.v0", postgresExporter.GetProperty("type").GetString());
        Assert.Equal("quay.io/prometheuscommunity/postgres-exporter:v0.11.1", postgresExporter.GetProperty("image").GetString());
        Assert.Equal("postgresql://agentbus_monitor:{postgres-monitor-password.value}@{postgres.bindings.tcp.host}:{postgres.bindings.tcp.port}/agentbus?sslmode=disable",
            postgresExporter.GetProperty("env").GetProperty("DATA_SOURCE_NAME").GetString());
        var redisExporter = resources.GetProperty("redis-exporter");
        Assert.Equal("docker.io/oliver006/redis_exporter:v1.45.0", redisExporter.GetProperty("image").GetString());
        Assert.Equal("{redis-password.value}", redisExporter.GetProperty("env").GetProperty("REDIS_PASSWORD").GetString());
        foreach (var exporter in new[] { postgresExporter, redisExporter })
        {
            Assert.False(exporter.TryGetProperty("args", out _));
            Assert.Equal("http", exporter.GetProperty("bindings").GetProperty("http").GetProperty("scheme").GetString());
        }
        // Postgres loads pg_stat_statements, utility statements (passwords) untracked; the cluster appends its max_connections after these.
        Assert.Equal(["-c", "shared_preload_libraries=pg_stat_statements", "-c", "pg_stat_statements.track_utility=off"],
            resources.GetProperty("postgres").GetProperty("args").EnumerateArray().Select(a => a.GetString()));
    }
}
