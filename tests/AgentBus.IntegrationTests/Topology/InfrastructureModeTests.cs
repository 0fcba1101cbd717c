using AgentBus.AppHost.Infrastructure;
using Microsoft.Extensions.Configuration;

namespace AgentBus.IntegrationTests.Topology;

public sealed class InfrastructureModeTests
{
    [Theory]
    [InlineData(null, InfrastructureMode.Auto)]
    [InlineData("local", InfrastructureMode.Local)]
    [InlineData("Containers", InfrastructureMode.Containers)]
    public void Mode_comes_from_configuration(string? value, InfrastructureMode expected)
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { [InfrastructureOptions.ModeKey] = value }).Build();
        Assert.Equal(expected, InfrastructureOptions.ReadMode(configuration));
    }

    [Fact]
    public void An_unknown_mode_is_refused_with_the_valid_ones()
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { [InfrastructureOptions.ModeKey] = "kubernetes" }).Build();
        var error = Assert.Throws<DistributedApplicationException>(() => InfrastructureOptions.ReadMode(configuration));
        Assert.Contains("auto, containers or local", error.Message);
    }

    [Fact]
    public async Task Local_mode_without_the_binaries_fails_naming_what_to_install()
    {
        var ct = TestContext.Current.CancellationToken;
        var error = await Assert.ThrowsAnyAsync<Exception>(async () =>
        {
            var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.AgentBus_AppHost>(
                ["--infra", "local", "--AgentBus:Local:PostgresBinDir=/nonexistent/pg/bin", "--AgentBus:Local:RedisServer=/nonexistent/redis-server",
                 "--AgentBus:Local:PostgresExporter=/nonexistent/prometheus-postgres-exporter", "--AgentBus:Local:RedisExporter=/nonexistent/prometheus-redis-exporter"], ct);
            await using var app = await builder.BuildAsync(ct);
        });
        var message = Flatten(error);
        Assert.Contains("/nonexistent/pg/bin/postgres (apt-get install postgresql-15)", message);
        Assert.Contains("/nonexistent/redis-server (apt-get install redis-server)", message);
        Assert.Contains("/nonexistent/prometheus-postgres-exporter (apt-get install prometheus-postgres-exporter)", message);
        Assert.Contains("/nonexistent/prometheus-redis-exporter (apt-get install prometheus-redis-exporter)", message);
    }

    [Fact]
    public void Local_binaries_of_this_machine_are_found()
    {
        var binaries = LocalBinaries.Find(new ConfigurationBuilder().Build(), out var missing);
        Assert.Empty(missing);
        Assert.True(File.Exists(binaries!.Postgres));
        Assert.True(File.Exists(binaries.RedisServer));
        Assert.True(File.Exists(binaries.PostgresExporter));
        Assert.True(File.Exists(binaries.RedisExporter));
    }

    private static string Flatten(Exception e) => e.InnerException is null ? e.Message : e.Message + " | " + Flatten(e.InnerException);
}
