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
