using System.Diagnostics;
using System.Text.Json;

namespace AgentBus.Bench;

/// <summary>
/// Whole jobs through the running api and worker with the offline provider at zero latency: each
/// project is submitted, its PRD approved as soon as it waits, and the job followed to completed.
/// </summary>
public static class JobsPerMinuteBench
{
    public static async Task<IReadOnlyList<Measurement>> RunAsync(BenchArgs args, RunSchedule schedule)
    {
        using var http = new HttpClient { BaseAddress = new Uri(args.Text("api", "http://127.0.0.1:18100")), Timeout = TimeSpan.FromSeconds(30) };
        http.DefaultRequestHeaders.Add("X-Api-Key", args.Text("key", "bench"));
        var count = args.Int("jobs", 20);
        var rates = new List<double>();
        while (schedule.Next())
        {
            var clock = Stopwatch.StartNew();
            await Task.WhenAll(Enumerable.Range(0, count).Select(i => OneJobAsync(http, i)));
            rates.Add(count / clock.Elapsed.TotalMinutes);
        }
        return [new("agentbus_jobs_per_minute", "jobs/min", rates, new Dictionary<string, object> { ["jobs_per_run"] = count, ["stages_per_job"] = 11 })];
    }

    private static async Task OneJobAsync(HttpClient http, int i)
    {
        using var created = await http.PostAsJsonAsync("/api/projects", new { name = $"bench job {i}", requirements = "A small internal tool that lists invoices and exports them as CSV." });
        created.EnsureSuccessStatusCode();
        var jobId = (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("job_id").GetString();
        var deadline = DateTime.UtcNow.AddMinutes(5);
        while (DateTime.UtcNow < deadline)
        {
            var job = await http.GetFromJsonAsync<JsonElement>($"/api/jobs/{jobId}");
            switch (job.GetProperty("status").GetString())
            {
                case "completed":
                    return;
                case "waiting_for_approval":
                    (await http.PostAsJsonAsync($"/api/jobs/{jobId}/approve", new { notes = (string?)null })).EnsureSuccessStatusCode();
                    break;
                case "failed" or "canceled" or "rejected":
                    throw new InvalidOperationException($"job {jobId} ended {job.GetProperty("status")}");
            }
            await Task.Delay(50);
        }
        throw new TimeoutException($"job {jobId} did not complete in 5 minutes");
    }
}
