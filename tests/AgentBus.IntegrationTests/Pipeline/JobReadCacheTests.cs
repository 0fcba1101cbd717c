using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Npgsql;

namespace AgentBus.IntegrationTests.Pipeline;

/// <summary>
/// GET /api/jobs/{id} reads a polled job from memory (JobDetailCache): a reader that saw an event
/// reads the job at least that new, and a change that carries no event shows within the entry's
/// lifetime (AgentBus:JobCache:Ttl, 1 s).
/// </summary>
[Collection(AppHostCollection.Name)]
public sealed class JobReadCacheTests(AppHostFixture fixture)
{
    [Fact]
    public async Task A_polled_job_shows_each_change_its_events_announce_as_soon_as_the_event_arrives()
    {
        using var api = fixture.Api();
        var (_, jobId) = await api.CreateProjectAsync("Read model under churn");
        await api.WaitForStatusAsync(jobId, "waiting_for_approval");
        using var http = fixture.CreateClient("api");
        http.Timeout = TimeSpan.FromSeconds(90);
        using var stream = await http.GetAsync($"/api/jobs/{jobId}/events", HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, stream.StatusCode);
        using var reader = new StreamReader(await stream.Content.ReadAsStreamAsync());

        // Another client polls the job all along, as a page would, so its entry is always warm.
        using var polling = new CancellationTokenSource();
        var polls = 0;
        var poller = Task.Run(async () =>
        {
            while (!polling.IsCancellationRequested)
            {
                (await api.GetJobAsync(jobId)).ToString();
                polls++;
            }
        });
        (await api.ActAsync(jobId, "approve")).Dispose();

        var checkedEvents = 0;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        while (await reader.ReadLineAsync(timeout.Token) is { } line)
        {
            if (!line.StartsWith("data: ", StringComparison.Ordinal))
            {
                continue;
            }
            var e = JsonSerializer.Deserialize<JsonElement>(line[6..]);
            var (type, stage) = (e.GetProperty("type").GetString(), e.TryGetProperty("stage", out var s) ? s.GetString() : null);
            if (type is not ("stage_started" or "stage_completed" or "job_completed") || (type != "job_completed" && stage is null))
            {
                continue;
            }
            var job = await api.GetJobAsync(jobId);
            var seen = type == "job_completed" ? (string?)job["status"] : StageStatus(job, stage!);
            var allowed = type switch
            {
                "stage_started" => new[] { "running", "completed" },
                _ => ["completed"],
            };
            Assert.True(allowed.Contains(seen), $"after {type} {stage} (seq {e.GetProperty("seq")}) the job read {seen}: {job.ToJsonString()}");
            checkedEvents++;
            if (type == "job_completed")
            {
                break;
            }
        }
        await polling.CancelAsync();
        await poller;
        TestContext.Current.SendDiagnosticMessage($"{checkedEvents} events checked against a job polled {polls} times");
        Assert.True(checkedEvents >= 21, $"only {checkedEvents} stage and job events were checked");
    }

    [Fact]
    public async Task A_change_without_an_event_shows_within_the_entrys_lifetime_and_the_read_before_it_came_from_memory()
    {
        using var api = fixture.Api();
        var (_, jobId) = await api.RunJobAsync("Read model lifetime");
        await using var db = NpgsqlDataSource.Create(await fixture.PostgresConnectionStringAsync());

        // Written behind the api's back (no event): a read within the second after is the held one.
        // A try whose warm entry happened to expire just before the write reads the new value, so a
        // few tries are allowed; every one of them must see the write within the lifetime.
        var servedFromMemory = false;
        for (var attempt = 1; attempt <= 5 && !servedFromMemory; attempt++)
        {
            var before = (string)(await api.GetJobAsync(jobId))["updated_at"]!;
            var written = new DateTime(2001, 1, attempt, 0, 0, 0, DateTimeKind.Utc);
            await using (var update = db.CreateCommand("UPDATE jobs SET updated_at = $1 WHERE job_id = $2"))
            {
                update.Parameters.Add(new() { Value = written });
                update.Parameters.Add(new() { Value = jobId });
                Assert.Equal(1, await update.ExecuteNonQueryAsync());
            }
            var started = DateTime.UtcNow;
            servedFromMemory = (string)(await api.GetJobAsync(jobId))["updated_at"]! == before;
            await AgentBusAppFixture.EventuallyAsync(async () => await api.GetJobAsync(jobId),
                j => (DateTime)j["updated_at"]! == written, TimeSpan.FromSeconds(5), "the write behind the api's back");
            var after = DateTime.UtcNow - started;
            Assert.True(after < TimeSpan.FromSeconds(2), $"the write showed after {after.TotalMilliseconds:F0} ms; the lifetime is 1 s");
        }
        Assert.True(servedFromMemory, "five reads right after a write behind the api's back all read Postgres: the job is not held in memory");
    }

    private static string? StageStatus(JsonObject job, string stage) =>
        (string?)job["stages"]!.AsArray().Single(s => (string?)s!["stage"] == stage)!["status"];
}
