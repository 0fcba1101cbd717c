using System.Diagnostics;
using System.Net;

namespace AgentBus.IntegrationTests.Pipeline;

public sealed class ResilienceTests(ResilienceAppFixture fixture) : IClassFixture<ResilienceAppFixture>
{
    [Fact]
    public async Task A_worker_killed_mid_stage_loses_nothing_its_task_is_reclaimed_and_runs_once_more()
    {
        using var api = fixture.Api();
        var (_, jobId) = await api.CreateProjectAsync("Crash in development");
        await api.WaitForStatusAsync(jobId, "waiting_for_approval");
        (await api.ActAsync(jobId, "approve")).Dispose();

        var started = await fixture.WaitForStageStartedAsync(jobId, "development");
        var consumer = started["data"]!["consumer"]!.GetValue<string>();
        var (pid, resource) = WorkerOf(consumer);
        using (var victim = Process.GetProcessById(pid))
        {
            victim.Kill();   // SIGKILL: no shutdown hook runs, the task stays un-acknowledged
            await victim.WaitForExitAsync();
        }

        var job = await api.WaitForStatusAsync(jobId, "completed", TimeSpan.FromSeconds(90));
        var development = job["stages"]!.AsArray().Single(s => (string?)s!["stage"] == "development")!;
        Assert.Equal(2, (int)development["attempts"]!);
        var artifacts = await api.ArtifactsAsync(jobId);
        Assert.Equal(11, artifacts.Count);
        Assert.Single(artifacts, a => (string?)a!["type"] == "development");

        var restarts = await fixture.EventsAsync(jobId);
        var runs = restarts.Where(e => (string?)e["type"] == "stage_started" && (string?)e["stage"] == "development").ToList();
        Assert.Equal(2, runs.Count);
        Assert.NotEqual(consumer, runs[1]["data"]!["consumer"]!.GetValue<string>());
        await fixture.RestartAsync(resource);
    }

    [Fact]
    public async Task Sigterm_hands_a_stage_that_outlives_the_grace_period_back_to_the_queue()
    {
        using var api = fixture.Api();
        var (_, jobId) = await api.CreateProjectAsync("Shutdown in development");
        await api.WaitForStatusAsync(jobId, "waiting_for_approval");
        (await api.ActAsync(jobId, "approve")).Dispose();

        var started = await fixture.WaitForStageStartedAsync(jobId, "development");
        var consumer = started["data"]!["consumer"]!.GetValue<string>();
        var (pid, resource) = WorkerOf(consumer);
        using var victim = Process.GetProcessById(pid);
        var clock = Stopwatch.StartNew();
        using (var kill = Process.Start("kill", ["-TERM", pid.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
        {
            await kill.WaitForExitAsync();
        }

        // The 4 s stage cannot finish in the 1 s grace: it goes back to the queue and the other
        // worker starts it long before the 8 s lease could have lapsed.
        var events = await AgentBusAppFixture.EventuallyAsync(() => fixture.EventsAsync(jobId),
            e => e.Count(x => (string?)x["type"] == "stage_started" && (string?)x["stage"] == "development") == 2,
            TimeSpan.FromSeconds(6), "development starting again on the other worker");
        TestContext.Current.SendDiagnosticMessage($"handed back and restarted {clock.ElapsedMilliseconds} ms after SIGTERM");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(6));
        var rerun = events.Last(x => (string?)x["type"] == "stage_started" && (string?)x["stage"] == "development");
        Assert.NotEqual(consumer, rerun["data"]!["consumer"]!.GetValue<string>());
        using (var exitTimeout = new CancellationTokenSource(TimeSpan.FromSeconds(10)))
        {
            await victim.WaitForExitAsync(exitTimeout.Token);
        }

        await api.WaitForStatusAsync(jobId, "completed", TimeSpan.FromSeconds(60));
        Assert.Single(await api.ArtifactsAsync(jobId), a => (string?)a!["type"] == "development");
        await fixture.RestartAsync(resource);
    }

    [Fact]
    public async Task Cancel_stops_a_running_stage_within_two_seconds()
    {
        using var api = fixture.Api();
        var (_, jobId) = await api.CreateProjectAsync("Cancel in development");
        await api.WaitForStatusAsync(jobId, "waiting_for_approval");
        (await api.ActAsync(jobId, "approve")).Dispose();
        await fixture.WaitForStageStartedAsync(jobId, "development");

        var workers = new[] { fixture.CreateClient("worker"), fixture.CreateClient("worker-2") };
        var canceledBefore = await CanceledExecutionsAsync(workers);
        var clock = Stopwatch.StartNew();
        using (var cancel = await api.ActAsync(jobId, "cancel", new { reason = "customer withdrew" }))
        {
            Assert.Equal(HttpStatusCode.OK, cancel.StatusCode);
        }
        await AgentBusAppFixture.EventuallyAsync(() => CanceledExecutionsAsync(workers), n => n > canceledBefore, TimeSpan.FromSeconds(2),
            "the running development stage stopping");
        TestContext.Current.SendDiagnosticMessage($"stage stopped {clock.ElapsedMilliseconds} ms after cancel");

        await Task.Delay(TimeSpan.FromSeconds(5)); // longer than the stage would have taken
        var job = await api.GetJobAsync(jobId);
        Assert.Equal("canceled", (string?)job["status"]);
        Assert.DoesNotContain(await api.ArtifactsAsync(jobId), a => (string?)a!["type"] is "development" or "qa" or "security");
        Assert.All(job["stages"]!.AsArray().Skip(4), s => Assert.Equal("canceled", (string?)s!["status"]));
        foreach (var w in workers)
        {
            w.Dispose();
        }
    }

    /// <summary>
    /// The pid in a consumer name (host:pid:random) and the worker resource that runs it, read from
    /// the OTEL_SERVICE_NAME the AppHost gave the process.
    /// </summary>
    private static (int Pid, string Resource) WorkerOf(string consumer)
    {
        var pid = int.Parse(consumer.Split(':')[1], System.Globalization.CultureInfo.InvariantCulture);
        var environment = File.ReadAllText($"/proc/{pid}/environ").Split('\0');
        var service = environment.FirstOrDefault(v => v.StartsWith("OTEL_SERVICE_NAME=", StringComparison.Ordinal))?["OTEL_SERVICE_NAME=".Length..];
        return service is "worker" or "worker-2" ? (pid, service) : throw new InvalidOperationException($"pid {pid} is not a worker ({service})");
    }

    /// <summary>Canceled developer runs over the workers that answer (the crash test may have killed one).</summary>
    private static async Task<double> CanceledExecutionsAsync(HttpClient[] workers)
    {
        double total = 0;
        foreach (var w in workers)
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromMilliseconds(500));
            try
            {
                total += PrometheusText.Parse(await w.GetStringAsync("/metrics", timeout.Token))
                    .Sum("agent_bus_agent_executions_total", l => l["agent_type"] == "developer_agent" && l["status"] == "canceled");
            }
            catch (Exception e) when (e is HttpRequestException or OperationCanceledException)
            {
                // a dead worker cannot have stopped the stage
            }
        }
        return total;
    }
}
