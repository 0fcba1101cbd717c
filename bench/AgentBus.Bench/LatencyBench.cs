using System.Collections.Concurrent;
using System.Text.Json;
using AgentBus.Jobs;
using Npgsql;

namespace AgentBus.Bench;

/// <summary>
/// The latencies a person waiting on a job feels, with --jobs jobs in flight at once through the
/// running api and worker: each job is submitted, followed over its event stream, and approved as
/// soon as it asks. Measured per run, as p50/p95/p99 in milliseconds:
/// - submit: POST /api/projects sent -> the prd stage started;
/// - handoff: a stage's last prerequisite completed -> the stage started (plan, after approval, left out);
/// - approval: POST approve sent -> the plan stage started;
/// - event: an event's created_at (its transaction's start, so a little before its commit) -> read
///   by the SSE client. Only events created after the stream was open count: older ones are replays.
/// All clocks are this machine's. Stage times come from stage_runs once every job completed.
/// </summary>
public static class LatencyBench
{
    public static async Task<IReadOnlyList<Measurement>> RunAsync(BenchArgs args, RunSchedule schedule)
    {
        using var http = new HttpClient { BaseAddress = new Uri(args.Text("api", "http://127.0.0.1:18100")), Timeout = Timeout.InfiniteTimeSpan };
        http.DefaultRequestHeaders.Add("X-Api-Key", args.Text("key", "bench"));
        await using var db = NpgsqlDataSource.Create(BenchArgs.Require("ConnectionStrings__agentbus"));
        var label = args.Text("label", "zero");
        var count = args.Int("jobs", 100);
        var series = new Dictionary<string, List<double>> { ["submit"] = [], ["handoff"] = [], ["approval"] = [], ["event"] = [] };
        var last = new Dictionary<string, Percentiles>();
        while (schedule.Next())
        {
            var samples = new Samples();
            var jobs = await Task.WhenAll(Enumerable.Range(0, count).Select(i => OneJobAsync(http, i, samples)));
            await StageLatenciesAsync(db, jobs, samples);
            foreach (var (name, values) in samples.All)
            {
                last[name] = Percentiles.Of(values);
                series[name].Add(last[name].P99);
            }
        }
        return series.Select(s => new Measurement($"latency_{s.Key}_{label}", "ms p99", s.Value, new Dictionary<string, object>
        {
            ["jobs_in_flight"] = count, ["p50_ms"] = last[s.Key].P50, ["p95_ms"] = last[s.Key].P95, ["p99_ms"] = last[s.Key].P99,
            ["samples"] = last[s.Key].Count,
        })).ToList();
    }

    private sealed class Samples
    {
        public readonly ConcurrentBag<double> Submit = [], Handoff = [], Approval = [], Event = [];
        public readonly ConcurrentDictionary<Guid, (DateTime Submitted, DateTime Approved)> Sent = new();

        public IEnumerable<(string, IReadOnlyCollection<double>)> All =>
            [("submit", Submit), ("handoff", Handoff), ("approval", Approval), ("event", Event)];
    }

    private static async Task<Guid> OneJobAsync(HttpClient http, int i, Samples samples)
    {
        var submitted = DateTime.UtcNow;
        using var created = await http.PostAsJsonAsync("/api/projects", new { name = $"latency job {i}", requirements = "A small internal tool that lists invoices and exports them as CSV." });
        created.EnsureSuccessStatusCode();
        var jobId = (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("job_id").GetGuid();
        var approved = DateTime.MinValue;

        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(10));
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/api/jobs/{jobId}/events");
        request.Headers.Accept.ParseAdd("text/event-stream");
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
        response.EnsureSuccessStatusCode();
        var open = DateTime.UtcNow;
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(timeout.Token));
        while (await reader.ReadLineAsync(timeout.Token) is { } line)
        {
            if (!line.StartsWith("data:", StringComparison.Ordinal))
            {
                continue;
            }
            var read = DateTime.UtcNow;
            var e = JsonDocument.Parse(line.AsMemory(5)).RootElement;
            var createdAt = e.GetProperty("created_at").GetDateTimeOffset().UtcDateTime;
            if (createdAt > open)
            {
                samples.Event.Add((read - createdAt).TotalMilliseconds);
            }
            switch (e.GetProperty("type").GetString())
            {
                case "approval_requested":
                    approved = DateTime.UtcNow;
                    (await http.PostAsJsonAsync($"/api/jobs/{jobId}/approve", new { notes = (string?)null }, timeout.Token)).EnsureSuccessStatusCode();
                    break;
                case "job_completed":
                    samples.Sent[jobId] = (submitted, approved);
                    return jobId;
                case "job_failed" or "job_canceled" or "job_rejected":
                    throw new InvalidOperationException($"job {jobId} ended {e.GetProperty("type")}");
            }
        }
        throw new InvalidOperationException($"job {jobId}: its event stream ended before the job did");
    }

    private static async Task StageLatenciesAsync(NpgsqlDataSource db, Guid[] jobs, Samples samples)
    {
        await using var command = db.CreateCommand("SELECT job_id, stage, started_at, completed_at FROM stage_runs WHERE job_id = ANY($1)");
        command.Parameters.AddWithValue(jobs);
        var stages = new Dictionary<Guid, Dictionary<string, (DateTime Started, DateTime Completed)>>();
        await using (var reader = await command.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                var job = reader.GetGuid(0);
                (stages.TryGetValue(job, out var byStage) ? byStage : stages[job] = [])[reader.GetString(1)] = (reader.GetDateTime(2), reader.GetDateTime(3));
            }
        }
        if (stages.Count != jobs.Length)
        {
            throw new InvalidOperationException($"stage_runs holds {stages.Count} of the {jobs.Length} jobs: ConnectionStrings__agentbus must name the services' database");
        }
        foreach (var (job, byStage) in stages)
        {
            var (submitted, approved) = samples.Sent[job];
            samples.Submit.Add((byStage[Pipeline.Prd].Started - submitted).TotalMilliseconds);
            samples.Approval.Add((byStage["plan"].Started - approved).TotalMilliseconds);
            foreach (var stage in Pipeline.Stages.Where(s => s.After.Length > 0 && s.Name != "plan"))
            {
                samples.Handoff.Add((byStage[stage.Name].Started - stage.After.Max(a => byStage[a].Completed)).TotalMilliseconds);
            }
        }
    }

    private sealed record Percentiles(double P50, double P95, double P99, int Count)
    {
        public static Percentiles Of(IReadOnlyCollection<double> values)
        {
            var sorted = values.Order().ToArray();
            if (sorted.Length == 0)
            {
                throw new InvalidOperationException("no samples");
            }
            double At(double q) => sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(q * sorted.Length) - 1)];
            return new(At(0.50), At(0.95), At(0.99), sorted.Length);
        }
    }
}
