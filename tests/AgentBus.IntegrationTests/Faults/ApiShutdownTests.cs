using System.Diagnostics;
using System.Net;

namespace AgentBus.IntegrationTests.Faults;

/// <summary>
/// SIGTERM to the api while clients hold event streams of a job that will not end by itself (it
/// waits for an approval): the streams end cleanly at once, and the api exits without waiting out
/// its 30 s shutdown timeout for them (and then cutting them off mid-response).
/// </summary>
[Collection(FaultsCollection.Name)]
public sealed class ApiShutdownTests(FaultsFixture fixture)
{
    private static readonly TimeSpan Prompt = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Sigterm_ends_open_event_streams_cleanly_and_the_api_exits_promptly()
    {
        using var api = fixture.Api();
        var jobs = await fixture.SubmitAsync(api, 1, "Streamed through a shutdown");
        await api.WaitForStatusAsync(jobs[0], "waiting_for_approval");
        using var http = fixture.CreateClient("api");
        http.Timeout = Timeout.InfiniteTimeSpan;
        using var jobStream = await http.GetAsync($"/api/jobs/{jobs[0]}/events", HttpCompletionOption.ResponseHeadersRead);
        using var allStream = await http.GetAsync("/api/events", HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, jobStream.StatusCode);
        Assert.Equal(HttpStatusCode.OK, allStream.StatusCode);
        // The job's stream has replayed what happened and waits for more.
        using var jobEvents = new StreamReader(await jobStream.Content.ReadAsStreamAsync());
        using (var replayed = new CancellationTokenSource(TimeSpan.FromSeconds(30)))
        {
            while (await jobEvents.ReadLineAsync(replayed.Token) is { } line && line != "event: approval_requested")
            {
            }
        }
        // Read to the end: a clean end returns, a connection cut mid-response throws.
        var reading = new[] { Task.Run(() => jobEvents.ReadToEndAsync()), Task.Run(() => allStream.Content.ReadAsStringAsync()) };

        var pid = await fixture.PidOf("api");
        using var victim = Process.GetProcessById(pid);
        var clock = Stopwatch.StartNew();
        using (var term = Process.Start("kill", ["-TERM", pid.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
        {
            await term.WaitForExitAsync();
        }
        try
        {
            await Task.WhenAll(reading).WaitAsync(Prompt);
            var ended = clock.Elapsed;
            using (var exit = new CancellationTokenSource(Prompt))
            {
                await victim.WaitForExitAsync(exit.Token);
            }
            FaultsFixture.Say($"SIGTERM to the api: its two event streams ended cleanly after {ended.TotalSeconds:F1} s, the api exited after {clock.Elapsed.TotalSeconds:F1} s");
        }
        finally
        {
            await fixture.RestartAsync("api");
        }
    }
}
