using System.Net;
using System.Text.Json;

namespace AgentBus.IntegrationTests.Pipeline;

[Collection(AppHostCollection.Name)]
public sealed class EventStreamTests(AppHostFixture fixture)
{
    public sealed record Sse(int Id, string Event, JsonElement Data);

    [Fact]
    public async Task Two_clients_get_every_event_in_order_and_a_third_resumes_after_Last_Event_ID()
    {
        using var api = fixture.Api();
        var (_, jobId) = await api.CreateProjectAsync("Event stream");
        var first = ReadAllAsync(jobId, lastEventId: null);
        var second = ReadAllAsync(jobId, lastEventId: null);

        await api.WaitForStatusAsync(jobId, "waiting_for_approval");
        (await api.ActAsync(jobId, "approve")).Dispose();
        var a = await first.WaitAsync(TimeSpan.FromSeconds(60));
        var b = await second.WaitAsync(TimeSpan.FromSeconds(60));

        Assert.Equal(Enumerable.Range(1, a.Count), a.Select(e => e.Id));
        Assert.Equal(a.Select(e => (e.Id, e.Event)), b.Select(e => (e.Id, e.Event)));
        Assert.Equal("job_created", a[0].Event);
        Assert.Equal("job_completed", a[^1].Event);
        foreach (var expected in new[] { "stage_started", "stage_completed", "approval_requested", "job_approved" })
        {
            Assert.Contains(a, e => e.Event == expected);
        }
        Assert.Equal(11, a.Count(e => e.Event == "stage_completed"));
        Assert.All(a, e => Assert.Equal(jobId, e.Data.GetProperty("job_id").GetGuid()));
        // The approval names who gave it (the fixture's client carries the bootstrap admin key); the
        // pipeline's own events name nobody.
        Assert.Equal("key:bootstrap", a.Single(e => e.Event == "job_approved").Data.GetProperty("data").GetProperty("by").GetString());
        Assert.All(a.Where(e => e.Event.StartsWith("stage_", StringComparison.Ordinal)), e => Assert.False(e.Data.GetProperty("data").TryGetProperty("by", out _)));
        // approval_requested comes after the PRD completed and before anything after approval
        Assert.True(a.FindIndex(e => e.Event == "approval_requested") < a.FindIndex(e => e.Event == "job_approved"));

        var resumed = await ReadAllAsync(jobId, lastEventId: 10).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(a.Skip(10).Select(e => (e.Id, e.Event)), resumed.Select(e => (e.Id, e.Event)));
    }

    [Fact]
    public async Task The_all_jobs_stream_delivers_live_events_of_every_job()
    {
        using var api = fixture.Api();
        using var http = fixture.CreateClient("api");
        http.Timeout = Timeout.InfiniteTimeSpan;
        using var response = await http.GetAsync("/api/events", HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());

        var (_, first) = await api.CreateProjectAsync("All jobs stream 1");
        var (_, second) = await api.CreateProjectAsync("All jobs stream 2");
        var seen = new HashSet<(Guid Job, string Type)>();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (!(seen.Contains((first, "approval_requested")) && seen.Contains((second, "approval_requested")))
            && await reader.ReadLineAsync(timeout.Token) is { } line)
        {
            if (line.StartsWith("data: ", StringComparison.Ordinal))
            {
                var data = JsonSerializer.Deserialize<JsonElement>(line[6..]);
                seen.Add((data.GetProperty("job_id").GetGuid(), data.GetProperty("type").GetString()!));
            }
        }
        Assert.Contains((first, "job_created"), seen);
        Assert.Contains((second, "stage_completed"), seen);
        Assert.Contains((second, "approval_requested"), seen);
    }

    /// <summary>Reads the stream until the server ends it (after the job's final event).</summary>
    private async Task<string> ViewerKeyAsync(string name)
    {
        using var admin = fixture.Api();
        return await admin.CreateKeyAsync(name, "viewer");
    }

    private static async Task<HttpResponseMessage> OpenAsync(HttpClient http, string path, int? lastEventId = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (lastEventId is { } id)
        {
            request.Headers.Add("Last-Event-ID", id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
        return await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
    }

    [Fact]
    public async Task A_caller_holds_at_most_its_share_of_event_streams()
    {
        using var api = fixture.Api();
        var (_, jobId) = await api.CreateProjectAsync("Many streams");
        await api.WaitForStatusAsync(jobId, "waiting_for_approval");
        using var http = fixture.CreateClient("api", await ViewerKeyAsync("stream hoarder"));
        http.Timeout = Timeout.InfiniteTimeSpan;
        var open = new List<HttpResponseMessage>();
        try
        {
            for (var i = 0; i < 32; i++)
            {
                var stream = await OpenAsync(http, i % 2 == 0 ? $"/api/jobs/{jobId}/events" : "/api/events");
                Assert.Equal(HttpStatusCode.OK, stream.StatusCode);
                open.Add(stream);
            }
            using (var refused = await OpenAsync(http, $"/api/jobs/{jobId}/events"))
            {
                var problem = await AgentBusClient.ProblemAsync(refused, HttpStatusCode.TooManyRequests);
                Assert.Contains("event streams", (string?)problem["detail"]);
            }
            // Another caller is not affected; and a closed stream frees its slot.
            using (var other = await OpenAsync(fixture.CreateClient("api"), $"/api/jobs/{jobId}/events"))
            {
                Assert.Equal(HttpStatusCode.OK, other.StatusCode);
            }
            open[0].Dispose();
            open.RemoveAt(0);
            var again = await AgentBusAppFixture.EventuallyAsync(async () => await OpenAsync(http, $"/api/jobs/{jobId}/events"),
                r => r.StatusCode == HttpStatusCode.OK, TimeSpan.FromSeconds(15), "a slot freed by a closed stream");
            open.Add(again);
        }
        finally
        {
            open.ForEach(r => r.Dispose());
        }
    }

    [Fact]
    public async Task A_last_event_id_beyond_the_jobs_last_event_resumes_from_its_last_event()
    {
        using var api = fixture.Api();
        var (_, jobId) = await api.CreateProjectAsync("Stale event id");
        await api.WaitForStatusAsync(jobId, "waiting_for_approval");
        using var http = fixture.CreateClient("api");
        http.Timeout = TimeSpan.FromSeconds(60);
        using var response = await OpenAsync(http, $"/api/jobs/{jobId}/events", lastEventId: 1_000_000);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        (await api.ActAsync(jobId, "approve")).Dispose();

        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        var next = await Task.Run(async () =>
        {
            while (await reader.ReadLineAsync() is { } line)
            {
                if (line.StartsWith("event: ", StringComparison.Ordinal))
                {
                    return line[7..];
                }
            }
            return null;
        }).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal("job_approved", next);
    }

    [Fact]
    public async Task Streams_opened_and_closed_leave_no_listener_entries_behind()
    {
        using var api = fixture.Api();
        var jobs = new List<Guid>();
        for (var i = 0; i < 25; i++)
        {
            jobs.Add((await api.CreateProjectAsync($"Listened {i}")).JobId);
        }
        foreach (var job in jobs)
        {
            await api.WaitForStatusAsync(job, "waiting_for_approval");
        }
        using var metrics = fixture.CreateAnonymousClient();
        async Task<double> ListenedAsync() => PrometheusText.Parse(await metrics.GetStringAsync("/metrics")).Sum("agent_bus_events_listened_jobs");
        var baseline = await ListenedAsync();

        // While streams of ten jobs are open, each job has its entry.
        var held = new List<HttpResponseMessage>();
        foreach (var job in jobs.Take(10))
        {
            held.Add(await OpenAsync(fixture.CreateClient("api"), $"/api/jobs/{job}/events"));
        }
        await AgentBusAppFixture.EventuallyAsync(ListenedAsync, n => n >= 10, TimeSpan.FromSeconds(10), "ten jobs listened to");
        held.ForEach(r => r.Dispose());

        // 1,000 streams over 25 jobs, from 10 keys (each key's rate limit allows 50 a second).
        var clients = new List<HttpClient>();
        for (var k = 0; k < 10; k++)
        {
            var client = fixture.CreateClient("api", await ViewerKeyAsync($"listener {k}"));
            client.Timeout = TimeSpan.FromSeconds(30);
            // Known to the api before the burst: a key's first use is a lookup, bounded per address.
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/api/me")).StatusCode);
            clients.Add(client);
        }
        var statuses = new System.Collections.Concurrent.ConcurrentBag<HttpStatusCode>();
        await Parallel.ForEachAsync(Enumerable.Range(0, 1_000), new ParallelOptions { MaxDegreeOfParallelism = 10 }, async (i, _) =>
        {
            using var stream = await OpenAsync(clients[i % clients.Count], $"/api/jobs/{jobs[i % jobs.Count]}/events");
            statuses.Add(stream.StatusCode);
        });
        // A closed stream holds its caller's slot until the api notices (HttpClient drains a disposed
        // response for up to 2 s first), so at this pace some keys meet their cap of streams: 429.
        var opened = statuses.Count(s => s == HttpStatusCode.OK);
        Assert.All(statuses, s => Assert.Contains(s, new[] { HttpStatusCode.OK, HttpStatusCode.TooManyRequests }));
        Assert.True(opened >= 250, $"only {opened} of 1,000 streams opened: {string.Join(", ", statuses.GroupBy(s => s).Select(g => $"{(int)g.Key} x{g.Count()}"))}");

        // Each closed stream notices its client left; the entries go with the last of them.
        await AgentBusAppFixture.EventuallyAsync(ListenedAsync, n => n <= baseline, TimeSpan.FromSeconds(30),
            $"agent_bus_events_listened_jobs back to {baseline}");
        clients.ForEach(c => c.Dispose());
    }

    private async Task<List<Sse>> ReadAllAsync(Guid jobId, int? lastEventId)
    {
        using var http = fixture.CreateClient("api");
        http.Timeout = TimeSpan.FromSeconds(90);
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/api/jobs/{jobId}/events");
        if (lastEventId is { } id)
        {
            request.Headers.Add("Last-Event-ID", id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        var events = new List<Sse>();
        (int? Id, string? Event, string? Data) current = default;
        while (await reader.ReadLineAsync() is { } line)
        {
            if (line.StartsWith("id: ", StringComparison.Ordinal)) current.Id = int.Parse(line[4..], System.Globalization.CultureInfo.InvariantCulture);
            else if (line.StartsWith("event: ", StringComparison.Ordinal)) current.Event = line[7..];
            else if (line.StartsWith("data: ", StringComparison.Ordinal)) current.Data = line[6..];
            else if (line.Length == 0 && current.Id is not null)
            {
                events.Add(new Sse(current.Id.Value, current.Event!, JsonSerializer.Deserialize<JsonElement>(current.Data!)));
                current = default;
            }
        }
        return events;
    }
}
