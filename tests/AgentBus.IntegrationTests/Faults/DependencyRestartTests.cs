using System.Diagnostics;
using System.Net;
using StackExchange.Redis;

namespace AgentBus.IntegrationTests.Faults;

/// <summary>
/// Redis or Postgres restarted while jobs are mid-pipeline: readiness drops to 503 and comes back
/// by itself, and every job in flight completes with nothing lost or doubled. Redis coming back
/// empty is repaired by the stage reconciler.
/// </summary>
[Collection(FaultsCollection.Name)]
public sealed class DependencyRestartTests(FaultsFixture fixture)
{
    private static readonly string[] Services = ["api", .. FaultsFixture.Workers];

    [Theory]
    [InlineData("redis")]
    [InlineData("postgres")]
    public async Task Jobs_in_flight_complete_when_a_dependency_restarts_mid_pipeline(string dependency)
    {
        using var api = fixture.Api();
        var jobs = await fixture.SubmitAsync(api, 4, $"Through a {dependency} restart");
        var run = fixture.ApproveAndCompleteAsync(jobs, TimeSpan.FromMinutes(3));
        foreach (var job in jobs)
        {
            await fixture.WaitForStageStartedAsync(job, "development");
        }

        var clock = Stopwatch.StartNew();
        await fixture.StopAsync(dependency);
        try
        {
            foreach (var service in Services)
            {
                await AgentBusAppFixture.EventuallyAsync(() => fixture.ReadinessAsync(service), s => s == HttpStatusCode.ServiceUnavailable,
                    TimeSpan.FromSeconds(30), $"{service} going not-ready with {dependency} stopped");
            }
        }
        finally
        {
            await fixture.StartAsync(dependency);
        }
        foreach (var service in Services)
        {
            await AgentBusAppFixture.EventuallyAsync(() => fixture.ReadinessAsync(service), s => s == HttpStatusCode.OK,
                TimeSpan.FromSeconds(45), $"{service} ready again after {dependency} restarted");
        }
        var outage = clock.Elapsed;

        var took = await run;
        var reruns = await fixture.AssertNothingLostAsync(jobs);
        FaultsFixture.Say($"{dependency} restart: {jobs.Length} jobs completed in {took.TotalSeconds:F1} s; services ready again {outage.TotalSeconds:F1} s after the stop; {reruns} stage runs re-run");
    }

    [Fact]
    public async Task Jobs_whose_tasks_redis_lost_are_reconciled_and_complete()
    {
        using var api = fixture.Api();
        await using var redis = await ConnectionMultiplexer.ConnectAsync(await fixture.ConnectionStringAsync("redis") + ",allowAdmin=true");
        var reconciledBefore = await fixture.WorkerCounterAsync("agent_bus_queue_reconciled_total");

        // No worker runs, so the first tasks wait in the stream; then Redis loses everything, as
        // a restart without persistence (or a failover to an empty replica) would.
        await Task.WhenAll(FaultsFixture.Workers.Select(fixture.StopAsync));
        await Task.WhenAll(FaultsFixture.Workers.Select(fixture.WaitStoppedAsync));
        var jobs = await fixture.SubmitAsync(api, 3, "Lost by Redis");
        Assert.Equal(3, await redis.GetDatabase().StreamLengthAsync("agentbus:queue:cpu"));
        await redis.GetServers()[0].FlushAllDatabasesAsync();
        await Task.WhenAll(FaultsFixture.Workers.Select(fixture.RestartAsync));

        // While the jobs run on, Redis empties once more, this time with stages mid-flight.
        var run = fixture.ApproveAndCompleteAsync(jobs, TimeSpan.FromMinutes(2));
        foreach (var job in jobs)
        {
            await fixture.WaitForStageStartedAsync(job, "development");
        }
        await redis.GetServers()[0].FlushAllDatabasesAsync();

        var took = await run;
        var reruns = await fixture.AssertNothingLostAsync(jobs);
        var reconciled = await fixture.WorkerCounterAsync("agent_bus_queue_reconciled_total") - reconciledBefore;
        FaultsFixture.Say($"redis emptied twice: {jobs.Length} jobs completed in {took.TotalSeconds:F1} s; {reconciled} stage runs reconciled; {reruns} re-run");
        Assert.True(reconciled >= jobs.Length, $"only {reconciled} reconciliations for {jobs.Length} lost PRD tasks");
    }
}
