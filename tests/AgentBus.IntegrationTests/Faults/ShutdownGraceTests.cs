using System.Diagnostics;

namespace AgentBus.IntegrationTests.Faults;

/// <summary>
/// SIGTERM while a stage runs that fits in the grace period (2.5 s of a 3.9 s grace, longer than a
/// lease renewal interval): the worker keeps renewing the task's lease through the drain, finishes
/// and commits it before exiting, no hand-back, no second run. The stage that outlives
/// the grace and goes back to the queue is ResilienceTests.Sigterm_hands_a_stage_that_outlives_the_grace_period_back_to_the_queue.
/// </summary>
[Collection(FaultsCollection.Name)]
public sealed class ShutdownGraceTests(FaultsFixture fixture)
{
    [Fact]
    public async Task Sigterm_lets_a_stage_that_fits_in_the_grace_period_finish_before_exit()
    {
        using var api = fixture.Api();
        var jobs = await fixture.SubmitAsync(api, 1, "Shutdown within grace");
        var run = fixture.ApproveAndCompleteAsync(jobs, TimeSpan.FromSeconds(90));
        var started = await fixture.WaitForStageStartedAsync(jobs[0], "development");
        var (pid, resource) = await fixture.WorkerOf(started["data"]!["consumer"]!.GetValue<string>());

        var consumer = started["data"]!["consumer"]!.GetValue<string>();
        await using var redis = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(await fixture.ConnectionStringAsync("redis"));

        using var victim = Process.GetProcessById(pid);
        var clock = Stopwatch.StartNew();
        using (var kill = Process.Start("kill", ["-TERM", pid.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
        {
            await kill.WaitForExitAsync();
        }
        // The lease's idle time through the drain: renewed every third of a lease, it never nears the lease.
        var longestIdle = TimeSpan.Zero;
        using (var exit = new CancellationTokenSource(FaultsFixture.ShutdownGrace + TimeSpan.FromSeconds(10)))
        {
            while (!victim.HasExited)
            {
                foreach (var entry in await redis.GetDatabase().StreamPendingMessagesAsync(AgentBus.Queue.TaskQueue.StreamKey("cpu"), AgentBus.Queue.TaskQueue.Group, 10, consumer))
                {
                    longestIdle = TimeSpan.FromMilliseconds(Math.Max(longestIdle.TotalMilliseconds, entry.IdleTimeInMilliseconds));
                }
                await Task.Delay(TimeSpan.FromMilliseconds(100), exit.Token);
            }
            await victim.WaitForExitAsync(exit.Token);
        }
        var exited = clock.Elapsed;
        Assert.True(longestIdle < FaultsFixture.Lease * 0.55,
            $"the draining worker's lease went {longestIdle.TotalSeconds:F1} s without renewal ({exited.TotalSeconds:F1} s drain, {FaultsFixture.Lease.TotalSeconds} s lease)");

        // Committed by the stopping worker: completed before it exited, on its first attempt.
        var events = await fixture.EventsAsync(jobs[0]);
        var development = events.Where(e => (string?)e["stage"] == "development").ToList();
        if (development.Count(e => (string?)e["type"] == "stage_started") != 1)
        {
            Assert.Fail($"development started other than once (SIGTERM to {consumer}, exited {exited.TotalSeconds:F1} s later):\n"
                + string.Join("\n", development.Select(e => e.ToJsonString()))
                + $"\n{resource}'s last lines:\n{string.Join("\n", await fixture.LastLogLinesAsync(resource, 15))}");
        }
        Assert.Contains(events, e => (string?)e["type"] == "stage_completed" && (string?)e["stage"] == "development");

        await run;
        var job = await api.GetJobAsync(jobs[0]);
        Assert.Equal(1, (int)job["stages"]!.AsArray().Single(s => (string?)s!["stage"] == "development")!["attempts"]!);
        Assert.Equal(0, await fixture.AssertNothingLostAsync(jobs));
        FaultsFixture.Say($"SIGTERM mid-development: {resource} exited {exited.TotalSeconds:F1} s later with the stage committed; its lease idled at most {longestIdle.TotalSeconds:F1} s");
        await fixture.RestartAsync(resource);
    }
}
