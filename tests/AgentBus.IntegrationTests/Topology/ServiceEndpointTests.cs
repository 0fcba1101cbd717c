using System.Net;
using System.Text.Json;
using AgentBus.AppHost.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace AgentBus.IntegrationTests.Topology;

[Collection(AppHostCollection.Name)]
public sealed class ServiceEndpointTests(AppHostFixture fixture)
{
    public static TheoryData<string> Services => new(AgentBusAppFixture.Services);

    [Fact]
    public async Task Every_resource_of_the_topology_is_healthy()
    {
        var model = fixture.App.Services.GetRequiredService<DistributedApplicationModel>();
        // agentbus-app: the services' connection string (the app role); migrations: the one-shot resource.
        Assert.Equal(["postgres", AgentBusAppFixture.AppConnectionString, AgentBusAppFixture.MonitorConnectionString, "redis", AgentBusAppFixture.Migrations, "api", "worker", "gpu-agent", "web"],
            model.Resources.Where(r => r is ProjectResource or IResourceWithConnectionString).Select(r => r.Name));
        Assert.IsType<LocalPostgresResource>(model.Resources.Single(r => r.Name == "postgres"));
        Assert.IsType<LocalRedisResource>(model.Resources.Single(r => r.Name == "redis"));
        // The exporters run Debian's binaries in local mode, each with its /metrics health check.
        foreach (var exporter in new[] { "postgres-exporter", "redis-exporter" })
        {
            var resource = Assert.IsAssignableFrom<ExecutableResource>(model.Resources.Single(r => r.Name == exporter));
            Assert.StartsWith("/usr/bin/prometheus-", resource.Command, StringComparison.Ordinal);
            Assert.Single(resource.Annotations.OfType<HealthCheckAnnotation>());
        }
        foreach (var resource in new[] { "postgres", "redis", "api", "worker", "gpu-agent", "web", "postgres-exporter", "redis-exporter" })
        {
            // Healthy within a while rather than at this instant: a test of the same AppHost may
            // have just restarted Postgres or Redis, and the AppHost polls each service's
            // /health/ready every few seconds, so its view lags the service's own by that much.
            await AgentBusAppFixture.EventuallyAsync(
                () => Task.FromResult(fixture.App.ResourceNotifications.TryGetCurrentState(resource, out var state) ? state.Snapshot : null),
                snapshot => snapshot?.HealthStatus == HealthStatus.Healthy, TimeSpan.FromSeconds(30), $"{resource} being healthy");
        }
    }

    [Theory]
    [MemberData(nameof(Services))]
    public async Task Liveness_answers_healthy_with_a_timestamp(string service)
    {
        using var client = fixture.CreateClient(service);
        using var response = await client.GetAsync("/health", TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        Assert.Equal("healthy", body.RootElement.GetProperty("status").GetString());
        var timestamp = body.RootElement.GetProperty("timestamp").GetInt64();
        Assert.InRange(timestamp, DateTimeOffset.UtcNow.ToUnixTimeSeconds() - 60, DateTimeOffset.UtcNow.ToUnixTimeSeconds() + 1);
    }

    [Theory]
    [MemberData(nameof(Services))]
    public async Task Readiness_checks_postgres_and_redis(string service)
    {
        using var client = fixture.CreateClient(service);
        using var response = await client.GetAsync("/health/ready", TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        Assert.Equal("ready", body.RootElement.GetProperty("status").GetString());
        var checks = body.RootElement.GetProperty("checks");
        Assert.Equal("healthy", checks.GetProperty("postgres").GetProperty("status").GetString());
        Assert.Equal("healthy", checks.GetProperty("redis").GetProperty("status").GetString());
    }

    [Theory]
    [MemberData(nameof(Services))]
    public async Task Metrics_are_prometheus_text_with_the_service_own_series(string service)
    {
        using var client = fixture.CreateClient(service);
        var ct = TestContext.Current.CancellationToken;
        (await client.GetAsync("/health/ready", ct)).Dispose();

        var metrics = await AgentBusAppFixture.EventuallyAsync(
            async () => PrometheusText.Parse(await client.GetStringAsync("/metrics", ct)),
            m => m.Sum("agent_bus_http_requests_total", l => l["endpoint"] == "/health/ready") > 0 && m.Sum("agent_bus_ready") == 1,
            TimeSpan.FromSeconds(15), $"{service} exporting its request counter and readiness gauge");

        Assert.Equal("counter", metrics.Types["agent_bus_http_requests_total"]);
        Assert.Equal("histogram", metrics.Types["agent_bus_http_request_duration_seconds"]);
        Assert.Contains(metrics.Named("agent_bus_http_request_duration_seconds_bucket"), s => s.Labels["le"] == "0.2");
        Assert.Equal(1, metrics.Named("agent_bus_ready").Single().Value);
        Assert.True(metrics.Named("agent_bus_db_connections_max").Single().Value > 0);
        Assert.Contains(metrics.Samples, s => s.Name.StartsWith("http_server_request_duration_seconds", StringComparison.Ordinal));
        Assert.Contains(metrics.Samples, s => s.Name.StartsWith("dotnet_", StringComparison.Ordinal) || s.Name.StartsWith("process_runtime", StringComparison.Ordinal));
        // ASP.NET Core meters that record on every request and that nothing reads are not exported
        // (docs/metrics.md): the memory pool's records on every connection's buffers.
        Assert.DoesNotContain(metrics.Samples, s => new[] { "aspnetcore_memory_pool_", "aspnetcore_authentication_", "aspnetcore_authorization_", "aspnetcore_rate_limiting_" }
            .Any(prefix => s.Name.StartsWith(prefix, StringComparison.Ordinal)));
    }

    [Fact]
    public async Task The_web_app_has_the_service_endpoints_and_its_readiness_names_redis()
    {
        var ct = TestContext.Current.CancellationToken;
        using var client = fixture.CreateAnonymousClient(AgentBusAppFixture.Web);
        using (var live = await client.GetAsync("/health", ct))
        {
            Assert.Equal(HttpStatusCode.OK, live.StatusCode);
            using var body = JsonDocument.Parse(await live.Content.ReadAsStringAsync(ct));
            Assert.Equal("healthy", body.RootElement.GetProperty("status").GetString());
        }
        using (var ready = await client.GetAsync("/health/ready", ct))
        {
            Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
            using var body = JsonDocument.Parse(await ready.Content.ReadAsStringAsync(ct));
            Assert.Equal("ready", body.RootElement.GetProperty("status").GetString());
            Assert.Equal("healthy", body.RootElement.GetProperty("checks").GetProperty("redis").GetProperty("status").GetString());
        }
        (await client.GetAsync("/signin", ct)).Dispose();
        var metrics = await AgentBusAppFixture.EventuallyAsync(async () => PrometheusText.Parse(await client.GetStringAsync("/metrics", ct)),
            m => m.Samples.Any(s => s.Name.StartsWith("http_server_request_duration_seconds", StringComparison.Ordinal)),
            TimeSpan.FromSeconds(15), "web exporting its request durations");
        Assert.Contains(metrics.Samples, s => s.Name.StartsWith("dotnet_", StringComparison.Ordinal) || s.Name.StartsWith("process_runtime", StringComparison.Ordinal));
    }
}
