using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Dapper;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace AgentBus.IntegrationTests.Faults;

/// <summary>
/// A real crash, not an orderly stop: the Postgres postmaster SIGKILLed the moment a stage start
/// (an asynchronous commit) is seen live, mid-workload, then started again (crash recovery).
/// Every job completes, no artifact is doubled, every SSE client (resuming with Last-Event-ID
/// across the outage) gets every event Postgres kept, the terminal one included, under the number
/// it is stored with (a number published before the crash and rolled back is never given to
/// another event), and every model call answered is recorded, once.
/// </summary>
[Collection(FaultsCollection.Name)]
public sealed class PostmasterCrashTests(FaultsFixture fixture)
{
    private sealed record Seen(int Id, string Type);

    [Fact]
    public async Task Jobs_complete_and_clients_miss_nothing_after_the_postmaster_is_killed_mid_workload()
    {
        using var api = fixture.Api();
        var servedBefore = fixture.ModelServer.Served.Count;
        var jobs = await fixture.SubmitAsync(api, 4, "Through a postmaster crash");
        using var stop = new CancellationTokenSource(TimeSpan.FromMinutes(4));
        var trigger = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var clients = jobs.Select((job, i) => FollowAsync(job, i == 0 ? trigger : null, stop.Token)).ToArray();
        var run = fixture.ApproveAndCompleteAsync(jobs, TimeSpan.FromMinutes(3));

        // The first job's development stage start, seen live: its commit was asynchronous.
        await trigger.Task.WaitAsync(TimeSpan.FromMinutes(2));
        var postmaster = await PostmasterPidAsync();
        var clock = Stopwatch.StartNew();
        await AgentBusAppFixture.KillAsync(postmaster);
        // Its backends notice the postmaster's death and exit; only then may a new one take the data directory.
        await Task.Delay(TimeSpan.FromSeconds(2));
        await fixture.RestartAsync("postgres");
        var down = clock.Elapsed;

        var took = await run;
        var reruns = await fixture.AssertNothingLostAsync(jobs);
        var seen = await Task.WhenAll(clients).WaitAsync(TimeSpan.FromSeconds(60));

        await using var db = new NpgsqlConnection(await fixture.PostgresConnectionStringAsync());
        var rolledBack = 0;
        for (var i = 0; i < jobs.Length; i++)
        {
            var stored = (await db.QueryAsync<(int Seq, string Type)>("SELECT seq, type FROM job_events WHERE job_id = @job ORDER BY seq", new { job = jobs[i] })).ToList();
            var received = seen[i].GroupBy(e => e.Id).ToDictionary(g => g.Key, g => g.Select(e => e.Type).Distinct().ToList());
            var missed = stored.Where(e => !received.TryGetValue(e.Seq, out var types) || !types.Contains(e.Type)).ToList();
            Assert.True(missed.Count == 0, $"job {jobs[i]}: the client never got {string.Join(", ", missed)} (it got {string.Join(", ", seen[i].Select(e => $"{e.Id}:{e.Type}"))})");
            var reused = received.Where(r => r.Value.Count > 1).ToList();
            Assert.True(reused.Count == 0, $"job {jobs[i]}: event numbers given to two events: {string.Join(", ", reused.Select(r => $"{r.Key}: {string.Join("/", r.Value)}"))}");
            Assert.Equal("job_completed", seen[i][^1].Type);
            rolledBack += received.Keys.Count(id => stored.All(e => e.Seq != id));
        }

        var (calls, attempts) = await db.QuerySingleAsync<(long, long)>(
            "SELECT count(*), count(DISTINCT (run_id, seq)) FROM llm_calls WHERE job_id = ANY(@jobs)", new { jobs });
        var served = fixture.ModelServer.Served.Count - servedBefore;
        Assert.Equal(calls, attempts);
        // No worker died: every call answered was recorded (a record waits out the outage), once.
        Assert.True(calls == served, $"{calls} calls recorded, the model server answered {served}");
        FaultsFixture.Say($"postmaster SIGKILL: {jobs.Length} jobs completed in {took.TotalSeconds:F1} s; Postgres back {down.TotalSeconds:F1} s after the kill; "
            + $"{reruns} stage runs re-run; {rolledBack} events clients saw were rolled back by the crash (their numbers not reused); {calls} calls recorded, {served} answered");
    }

    [Fact]
    public async Task Event_numbers_published_before_a_crash_rolled_them_back_are_not_given_out_again()
    {
        // No worker runs meanwhile: nothing else commits (and flushes the WAL), and no reconciler
        // hands this job to a worker (the next test counts the workers' calls).
        await Task.WhenAll(FaultsFixture.Workers.Select(fixture.StopAsync));
        await Task.WhenAll(FaultsFixture.Workers.Select(fixture.WaitStoppedAsync));
        var tasks = new List<AgentBus.Queue.TaskMessage>();
        try
        {
            await SetWalWriterDelayAsync("10s");
            // Whether the kill beats the WAL flush is up to timing: any durable commit elsewhere in the
            // fixture (the api's sweeps, autovacuum) flushes the start with it. Such a try proves
            // nothing either way, so it is made again with a fresh job, at most three times.
            (AgentBus.Queue.TaskMessage Task, int[] Published)? lost = null;
            for (var attempt = 1; attempt <= 3 && lost is null; attempt++)
            {
                var task = await JobLibrary.QueuedPrdAsync(fixture, $"Crash before the flush, try {attempt}");
                tasks.Add(task);
                var published = await BeginStageAndCrashAsync(task);
                Assert.Equal(2, published.Length);
                await Task.Delay(TimeSpan.FromSeconds(2));
                await fixture.RestartAsync("postgres");
                // Pooled connections may still reach backends of the killed postmaster: none is reused.
                NpgsqlConnection.ClearAllPools();
                await using var check = new NpgsqlConnection(await fixture.PostgresConnectionStringAsync());
                if (await check.ExecuteScalarAsync<int>("SELECT event_seq FROM jobs WHERE job_id = @JobId", new { task.JobId }) == 0)
                {
                    lost = (task, published);
                }
                else
                {
                    FaultsFixture.Say($"postmaster SIGKILL try {attempt}: the stage start's WAL was flushed before the kill; trying again");
                }
            }
            Assert.True(lost is not null, "in three tries the stage start's WAL was always flushed before the kill: nothing proven");
            var (rolledBack, before) = lost.Value;

            await using var db = new NpgsqlConnection(await fixture.PostgresConnectionStringAsync());
            using (var jobs = await JobLibrary.BuildAsync(fixture))
            {
                var ledger = jobs.Services.GetRequiredService<AgentBus.Store.StageLedger>();
                Assert.NotNull((await ledger.BeginStageAsync(rolledBack, "crash-test", "cpu/2-0", takeOver: true)).Work);
            }
            var after = (await db.QueryAsync<int>("SELECT seq FROM job_events WHERE job_id = @JobId ORDER BY seq", new { rolledBack.JobId })).ToList();
            Assert.Equal(2, after.Count);
            Assert.True(after.Min() > before.Max(), $"event numbers {string.Join(", ", after)} reuse those published before the crash ({string.Join(", ", before)})");
            FaultsFixture.Say($"postmaster SIGKILL before the WAL flush: events {string.Join(", ", before)} were published and rolled back; the job's next events are {string.Join(", ", after)}");
        }
        finally
        {
            // Ended, so the reconciler does not hand the jobs to the workers (the next test counts their calls).
            if (fixture.App.ResourceNotifications.TryGetCurrentState("postgres", out var state) && state.Snapshot.State?.Text is "Exited" or "Finished" or "FailedToStart")
            {
                await fixture.RestartAsync("postgres");
            }
            await SetWalWriterDelayAsync(null);
            await using (var db = new NpgsqlConnection(await fixture.PostgresConnectionStringAsync()))
            {
                await db.ExecuteAsync("UPDATE jobs SET status = 'canceled', completed_at = now() WHERE job_id = ANY(@jobs)", new { jobs = tasks.Select(t => t.JobId).ToArray() });
            }
            await Task.WhenAll(FaultsFixture.Workers.Select(fixture.RestartAsync));
        }
    }

    /// <summary>
    /// Begins the task's stage (an asynchronous commit), reads the event numbers it published, and
    /// SIGKILLs the postmaster before the WAL writer's 10 s delay runs out.
    /// </summary>
    private async Task<int[]> BeginStageAndCrashAsync(AgentBus.Queue.TaskMessage task)
    {
        using var jobs = await JobLibrary.BuildAsync(fixture);
        // The WAL writer flushes an asynchronous commit at once when it last flushed longer than
        // wal_writer_delay ago (it hibernates when idle): one asynchronous commit now has it flush,
        // so the stage start's, a moment later, waits up to 10 s and dies with the postmaster.
        await using (var warm = new NpgsqlConnection(await fixture.PostgresConnectionStringAsync()))
        {
            await warm.ExecuteAsync("BEGIN; SET LOCAL synchronous_commit = off; UPDATE projects SET updated_at = now() WHERE project_id = @ProjectId; COMMIT;", new { task.ProjectId });
        }
        await Task.Delay(TimeSpan.FromMilliseconds(500));
        var ledger = jobs.Services.GetRequiredService<AgentBus.Store.StageLedger>();
        Assert.NotNull((await ledger.BeginStageAsync(task, "crash-test", "cpu/1-0")).Work);
        // Committed, so visible (and published to live listeners), though not yet on disk.
        int[] published;
        await using (var before = new NpgsqlConnection(await fixture.PostgresConnectionStringAsync()))
        {
            published = [.. await before.QueryAsync<int>("SELECT seq FROM job_events WHERE job_id = @JobId", new { task.JobId })];
        }
        await AgentBusAppFixture.KillAsync(await PostmasterPidAsync());
        return published;
    }

    private async Task SetWalWriterDelayAsync(string? delay)
    {
        await using var db = new NpgsqlConnection(await fixture.PostgresConnectionStringAsync());
        await db.ExecuteAsync(delay is null ? "ALTER SYSTEM RESET wal_writer_delay" : $"ALTER SYSTEM SET wal_writer_delay = '{delay}'");
        await db.ExecuteAsync("SELECT pg_reload_conf()");
    }

    /// <summary>
    /// The postmaster: the parent of a new connection's backend. Not a pooled one: a backend of the
    /// postmaster killed before may linger, and its parent is then whatever adopted it.
    /// </summary>
    private async Task<int> PostmasterPidAsync()
    {
        await using var db = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(await fixture.PostgresConnectionStringAsync()) { Pooling = false }.ConnectionString);
        var postmaster = AgentBusAppFixture.ParentOf(await db.ExecuteScalarAsync<int>("SELECT pg_backend_pid()"));
        var name = postmaster > 1 && File.Exists($"/proc/{postmaster}/comm") ? File.ReadAllText($"/proc/{postmaster}/comm").Trim() : "gone";
        return name == "postgres" ? postmaster : throw new InvalidOperationException($"the backend's parent {postmaster} is {name}, not the postmaster");
    }

    /// <summary>
    /// Follows a job's event stream to its end as a browser would: on a dropped stream or a refused
    /// request it reconnects with Last-Event-ID. Sets <paramref name="trigger"/> at the first live
    /// stage_started of development.
    /// </summary>
    private async Task<List<Seen>> FollowAsync(Guid jobId, TaskCompletionSource? trigger, CancellationToken ct)
    {
        var seen = new List<Seen>();
        while (true)
        {
            ct.ThrowIfCancellationRequested();
            try
            {
                using var http = fixture.CreateClient("api");
                http.Timeout = Timeout.InfiniteTimeSpan;
                using var request = new HttpRequestMessage(HttpMethod.Get, $"/api/jobs/{jobId}/events");
                if (seen.Count > 0)
                {
                    request.Headers.Add("Last-Event-ID", seen[^1].Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
                }
                using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(ct));
                    (int? Id, string? Event, string? Data) current = default;
                    while (await reader.ReadLineAsync(ct) is { } line)
                    {
                        if (line.StartsWith("id: ", StringComparison.Ordinal)) current.Id = int.Parse(line[4..], System.Globalization.CultureInfo.InvariantCulture);
                        else if (line.StartsWith("event: ", StringComparison.Ordinal)) current.Event = line[7..];
                        else if (line.StartsWith("data: ", StringComparison.Ordinal)) current.Data = line[6..];
                        else if (line.Length == 0 && current is { Id: { } id, Event: { } type, Data: { } data })
                        {
                            seen.Add(new Seen(id, type));
                            current = default;
                            if (type == "stage_started" && trigger is not null
                                && JsonSerializer.Deserialize<JsonElement>(data).GetProperty("stage").GetString() == "development")
                            {
                                trigger.TrySetResult();
                            }
                        }
                    }
                }
            }
            catch (Exception e) when (e is HttpRequestException or IOException or JsonException)
            {
                // The api lost Postgres mid-stream, or refused while it was down: reconnect.
            }
            if (seen.Count > 0 && seen[^1].Type is "job_completed" or "job_failed" or "job_canceled" or "job_rejected")
            {
                return seen;
            }
            await Task.Delay(TimeSpan.FromMilliseconds(300), ct);
        }
    }
}
