using System.Net.ServerSentEvents;
using System.Runtime.CompilerServices;
using System.Text.Json;
using Microsoft.Extensions.Logging;

namespace AgentBus.Client;

/// <summary>
/// The api's event streams, read by a client that follows jobs live (a page, `agentbus watch`): a
/// job's events (GET /api/jobs/{id}/events, resumed with Last-Event-ID after a dropped connection,
/// so nothing is missed or seen twice) and every job's live events (GET /api/events). No polling:
/// the client waits on the stream. Its HttpClient has no timeout and no retry pipeline: a stream is long.
/// </summary>
public sealed class JobEventsClient(HttpClient http, IApiCredential credential, ILogger<JobEventsClient> logger)
{
    private static readonly TimeSpan FirstRetry = TimeSpan.FromMilliseconds(250);
    private static readonly TimeSpan LastRetry = TimeSpan.FromSeconds(10);

    /// <summary>The job's events after <paramref name="lastSeq"/>, in order, until the job ends or <paramref name="ct"/> fires.</summary>
    public IAsyncEnumerable<JobEvent> ReadJobAsync(Guid jobId, int lastSeq, CancellationToken ct) =>
        ReadAsync($"/api/jobs/{jobId}/events", lastSeq, endsWithJob: true, ct);

    /// <summary>Every job's events as they happen, until <paramref name="ct"/> fires; reconnects after a drop.</summary>
    public IAsyncEnumerable<JobEvent> ReadAllAsync(CancellationToken ct) =>
        ReadAsync("/api/events", null, endsWithJob: false, ct);

    /// <summary>The same streams read with another credential.</summary>
    public JobEventsClient With(IApiCredential other) => new(http, other, logger);

    /// <summary>The events after which the api ends a job's stream (a failed job may be resumed: the page reads again then).</summary>
    public static bool EndsStream(string type) => type is "job_completed" or "job_failed" or "job_rejected" or "job_canceled";

    private async IAsyncEnumerable<JobEvent> ReadAsync(string path, int? lastSeq, bool endsWithJob,
        [EnumeratorCancellation] CancellationToken ct)
    {
        var retry = FirstRetry;
        while (!ct.IsCancellationRequested)
        {
            HttpResponseMessage? response = null;
            Stream? body = null;
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, path);
                await credential.ApplyAsync(request, ct);
                if (lastSeq is { } last)
                {
                    request.Headers.Add("Last-Event-ID", last.ToString(System.Globalization.CultureInfo.InvariantCulture));
                }
                response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
                if ((int)response.StatusCode is 401 or 403 or 404)
                {
                    yield break; // signed out, not allowed or no such job: retrying changes nothing
                }
                response.EnsureSuccessStatusCode();
                body = await response.Content.ReadAsStreamAsync(ct);
            }
            catch (Exception e) when (e is HttpRequestException or IOException && !ct.IsCancellationRequested)
            {
                logger.LogInformation("Event stream {Path} unavailable ({Error}); retrying in {Delay} ms", path, e.Message, retry.TotalMilliseconds);
                response?.Dispose();
                await Task.Delay(retry, ct);
                retry = TimeSpan.FromTicks(Math.Min(retry.Ticks * 2, LastRetry.Ticks));
                continue;
            }

            using (response)
            await using (body)
            {
                var events = SseParser.Create(body, (_, data) => JsonSerializer.Deserialize<JobEvent>(data, AgentBusApi.Json)).EnumerateAsync(ct);
                await using var reader = events.GetAsyncEnumerator(ct);
                while (true)
                {
                    JobEvent? next;
                    try
                    {
                        if (!await reader.MoveNextAsync())
                        {
                            break;
                        }
                        next = reader.Current.Data;
                    }
                    catch (Exception e) when (e is HttpRequestException or IOException && !ct.IsCancellationRequested)
                    {
                        logger.LogInformation("Event stream {Path} dropped ({Error}); resuming after event {Seq}", path, e.Message, lastSeq);
                        break;
                    }
                    if (next is null)
                    {
                        continue;
                    }
                    retry = FirstRetry;
                    if (lastSeq is not null)
                    {
                        lastSeq = next.Seq;
                    }
                    yield return next;
                    if (endsWithJob && EndsStream(next.Type))
                    {
                        yield break;
                    }
                }
            }
            if (!ct.IsCancellationRequested)
            {
                // The api ends a job's stream after the event that ends the job (seen above); a
                // stream that ends otherwise was dropped: resume after a pause.
                await Task.Delay(retry, ct);
                retry = TimeSpan.FromTicks(Math.Min(retry.Ticks * 2, LastRetry.Ticks));
            }
        }
    }
}
