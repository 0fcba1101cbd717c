using System.Diagnostics;
using System.Net;
using System.Text.Json.Nodes;
using AgentBus.Tests.Infrastructure;
using Npgsql;

namespace AgentBus.Tests.Pipeline;

/// <summary>
/// Two workers, a 3 s lease and a development stage that takes 4 s: long enough to kill a worker
/// or cancel the job while it runs.
/// </summary>
public sealed class ResilienceAppFixture : AgentBusAppFixture
{
    protected override IEnumerable<string> ExtraResources => ["worker-2"];

    protected override void Configure(IDistributedApplicationTestingBuilder builder)
    {
        var worker = builder.Resources.OfType<ProjectResource>().Single(r => r.Name == "worker");
        var secondWorker = builder.AddProject("worker-2", Path.Combine(Repository.Root, "src", "AgentBus.Worker", "AgentBus.Worker.csproj"))
            .WithReferenceEnvironment(ReferenceEnvironmentInjectionFlags.ConnectionString)
            .WithReference(builder.CreateResourceBuilder((IResourceWithConnectionString)builder.Resources.Single(r => r.Name == "postgres")), "agentbus")
            .WithReference(builder.CreateResourceBuilder((IResourceWithConnectionString)builder.Resources.Single(r => r.Name == "redis")))
            .WithHttpHealthCheck("/health/ready");
        foreach (var w in new[] { builder.CreateResourceBuilder(worker), secondWorker })
        {
            w.WithEnvironment("AgentBus__Queue__Lease", "00:00:03")
             .WithEnvironment("AgentBus__Llm__Offline__LatencyByAgent__developer_agent", "00:00:04");
        }
    }
}

public sealed class ResilienceTests(ResilienceAppFixture fixture) : IClassFixture<ResilienceAppFixture>
{
    [Fact]
    public async Task A_worker_killed_mid_stage_loses_nothing_its_task_is_reclaimed_and_runs_once_more()
    {
        using var api = fixture.Api();
        var (_, jobId) = await api.CreateProjectAsync("Crash in development");
        await api.WaitForStatusAsync(jobId, "waiting_for_approval");
        (await api.ActAsync(jobId, "approve")).Dispose();

        var started = await WaitForStageStartedAsync(jobId, "development");
        var consumer = started["data"]!["consumer"]!.GetValue<string>();
        var pid = int.Parse(consumer.Split(':')[1], System.Globalization.CultureInfo.InvariantCulture);
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

        var restarts = await EventsAsync(jobId);
        var runs = restarts.Where(e => (string?)e["type"] == "stage_started" && (string?)e["stage"] == "development").ToList();
        Assert.Equal(2, runs.Count);
        Assert.NotEqual(consumer, runs[1]["data"]!["consumer"]!.GetValue<string>());
    }

    [Fact]
    public async Task Cancel_stops_a_running_stage_within_two_seconds()
    {
        using var api = fixture.Api();
        var (_, jobId) = await api.CreateProjectAsync("Cancel in development");
        await api.WaitForStatusAsync(jobId, "waiting_for_approval");
        (await api.ActAsync(jobId, "approve")).Dispose();
        await WaitForStageStartedAsync(jobId, "development");

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

    private async Task<JsonObject> WaitForStageStartedAsync(Guid jobId, string stage) =>
        (await AgentBusAppFixture.EventuallyAsync(() => EventsAsync(jobId),
            events => events.Any(e => (string?)e["type"] == "stage_started" && (string?)e["stage"] == stage),
            TimeSpan.FromSeconds(30), $"{stage} starting"))
        .First(e => (string?)e["type"] == "stage_started" && (string?)e["stage"] == stage);

    /// <summary>The job's events as stored, read straight from Postgres.</summary>
    private async Task<List<JsonObject>> EventsAsync(Guid jobId)
    {
        await using var connection = new NpgsqlConnection(await fixture.ConnectionStringAsync("postgres"));
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            "SELECT json_build_object('seq', seq, 'type', type, 'stage', stage, 'data', data)::text FROM job_events WHERE job_id = $1 ORDER BY seq", connection);
        command.Parameters.AddWithValue(jobId);
        var events = new List<JsonObject>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            events.Add(JsonNode.Parse(reader.GetString(0))!.AsObject());
        }
        return events;
    }
}
