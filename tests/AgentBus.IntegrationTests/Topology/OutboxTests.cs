using System.Net;

namespace AgentBus.IntegrationTests.Topology;

/// <summary>A project submitted while Redis is down is accepted and runs once Redis returns: the outbox kept its task.</summary>
[Collection(AppHostCollection.Name)]
public sealed class OutboxTests(AppHostFixture fixture)
{
    [Fact]
    public async Task A_project_submitted_during_a_redis_outage_runs_when_redis_returns()
    {
        var ct = TestContext.Current.CancellationToken;
        using var api = fixture.Api();
        await fixture.App.ResourceCommands.ExecuteCommandAsync("redis", KnownResourceCommands.StopCommand, ct);
        Guid jobId;
        try
        {
            using var client = fixture.CreateClient("api");
            await AgentBusAppFixture.EventuallyAsync(async () => (await client.GetAsync("/health/ready", ct)).StatusCode,
                s => s == HttpStatusCode.ServiceUnavailable, TimeSpan.FromSeconds(30), "api noticing Redis is gone");
            (_, jobId) = await api.CreateProjectAsync("Submitted while Redis was down");
            await Task.Delay(TimeSpan.FromSeconds(2), ct);
            Assert.Equal("queued", (string?)(await api.GetJobAsync(jobId))["status"]);
        }
        finally
        {
            await fixture.App.ResourceCommands.ExecuteCommandAsync("redis", KnownResourceCommands.StartCommand, ct);
        }
        await api.WaitForStatusAsync(jobId, "waiting_for_approval", TimeSpan.FromSeconds(60));
    }
}
