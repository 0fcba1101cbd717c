using System.Net;
using System.Text.Json;

namespace AgentBus.IntegrationTests.Topology;

/// <summary>Stopping Postgres or Redis turns readiness into 503 naming it; liveness stays 200; readiness comes back alone.</summary>
[Collection(AppHostCollection.Name)]
public sealed class DependencyOutageTests(AppHostFixture fixture)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(45);

    [Theory]
    [InlineData("redis")]
    [InlineData("postgres")]
    public async Task Readiness_fails_naming_the_stopped_dependency_and_recovers(string dependency)
    {
        var ct = TestContext.Current.CancellationToken;
        await fixture.App.ResourceCommands.ExecuteCommandAsync(dependency, KnownResourceCommands.StopCommand, ct);
        try
        {
            foreach (var service in AgentBusAppFixture.Services)
            {
                using var client = fixture.CreateClient(service);
                var (status, body) = await AgentBusAppFixture.EventuallyAsync(
                    () => ReadinessAsync(client, ct), r => r.Status == HttpStatusCode.ServiceUnavailable, Patience,
                    $"{service} /health/ready turning 503 after {dependency} stopped");

                using var json = JsonDocument.Parse(body);
                Assert.Equal("not_ready", json.RootElement.GetProperty("status").GetString());
                Assert.Equal([dependency], json.RootElement.GetProperty("failing").EnumerateArray().Select(e => e.GetString()));
                // The failure named (dependency and exception type), never the exception's text: no hosts or ports to a stranger.
                Assert.Matches($"^{dependency}: [A-Za-z]+Exception$", json.RootElement.GetProperty("checks").GetProperty(dependency).GetProperty("error").GetString());

                using var live = await client.GetAsync("/health", ct);
                Assert.Equal(HttpStatusCode.OK, live.StatusCode);

                // Every service counts the outage in agent_bus_errors_total and drops agent_bus_ready.
                await AgentBusAppFixture.EventuallyAsync(async () => PrometheusText.Parse(await client.GetStringAsync("/metrics", ct)),
                    m => m.Sum("agent_bus_errors_total", l => l["error_type"] == $"{dependency}_unavailable" && l["component"] == service) > 0
                         && m.Sum("agent_bus_ready") == 0,
                    Patience, $"{service} counting the {dependency} outage");
            }
        }
        finally
        {
            await fixture.App.ResourceCommands.ExecuteCommandAsync(dependency, KnownResourceCommands.StartCommand, ct);
        }

        foreach (var service in AgentBusAppFixture.Services)
        {
            using var client = fixture.CreateClient(service);
            await AgentBusAppFixture.EventuallyAsync(() => ReadinessAsync(client, ct), r => r.Status == HttpStatusCode.OK, Patience,
                $"{service} /health/ready coming back after {dependency} restarted");
        }
    }

    private static async Task<(HttpStatusCode Status, string Body)> ReadinessAsync(HttpClient client, CancellationToken ct)
    {
        using var response = await client.GetAsync("/health/ready", ct);
        return (response.StatusCode, await response.Content.ReadAsStringAsync(ct));
    }
}
