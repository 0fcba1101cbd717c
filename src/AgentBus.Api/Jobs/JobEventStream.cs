using System.Text.Json;
using System.Threading.Channels;
using AgentBus.Api.Security;
using AgentBus.Events;
using AgentBus.Jobs;
using AgentBus.Store;
using Microsoft.Net.Http.Headers;

namespace AgentBus.Api.Jobs;

/// <summary>
/// GET /api/jobs/{job_id}/events: replays the job's events after Last-Event-ID from Postgres, then
/// streams live ones. Live events come over Redis; a gap in the per-job sequence, or a quiet
/// spell, sends the stream back to Postgres, so every client gets every event, in order, once.
/// A stream ends with its job (its terminal event, or its status re-read), when the client goes,
/// and when the api shuts down; each caller holds at most AgentBus:EventStreams:MaxPerCaller.
/// </summary>
public static class JobEventStream
{
    private static readonly TimeSpan KeepAlive = TimeSpan.FromSeconds(15);
    private static readonly TimeSpan Resync = TimeSpan.FromSeconds(5);

    public static async Task<IResult> Stream(Guid job_id, HttpContext context, JobQueries queries, JobEventBus bus, EventStreamSlots slots,
        IHostApplicationLifetime lifetime, CancellationToken requestAborted)
    {
        var job = await queries.GetJobAsync(job_id, requestAborted);
        if (job is null)
        {
            return Problems.NotFound("job", job_id);
        }
        using var slot = slots.TryTake(Roles.Actor(context.User));
        if (slot is null)
        {
            return TooMany(context);
        }
        using var stopping = CancellationTokenSource.CreateLinkedTokenSource(requestAborted, lifetime.ApplicationStopping);
        var ct = stopping.Token;
        var lastEventId = context.Request.Headers["Last-Event-ID"].FirstOrDefault() ?? context.Request.Query["last_event_id"].FirstOrDefault();
        var last = int.TryParse(lastEventId, out var seq) && seq >= 0 ? seq : 0;
        if (last > 0)
        {
            // An id beyond the job's last event (a stale or made-up one) would hold back every event to come.
            last = Math.Min(last, await queries.LastEventSeqAsync(job_id, ct));
        }

        var response = await StartAsync(context, ct);

        var live = Channel.CreateUnbounded<JobEvent>(new UnboundedChannelOptions { SingleReader = true });
        await using var listening = await bus.ListenAsync(job_id, live);
        var lastWrite = DateTime.UtcNow;
        var lastSync = DateTime.MinValue;
        try
        {
            while (!ct.IsCancellationRequested)
            {
                if (DateTime.UtcNow - lastSync >= Resync)
                {
                    var missed = await queries.GetEventsAsync(job_id, last, ct);
                    foreach (var e in missed)
                    {
                        (last, lastWrite) = (await WriteAsync(response, e, ct), DateTime.UtcNow);
                        if (JobEventTypes.EndsStream(e.Type))
                        {
                            return Results.Empty;
                        }
                    }
                    // Quiet: the job may have ended (or gone) since it was read; nothing more would come.
                    if (missed.Count == 0 && lastSync != DateTime.MinValue)
                    {
                        job = await queries.GetJobAsync(job_id, ct);
                        if (job is not null && JobStatus.IsTerminal(job.Status))
                        {
                            // It may have ended between the two reads: its last events were committed
                            // with the status, so one more read has them (a load test lost job_completed).
                            lastSync = DateTime.MinValue;
                            continue;
                        }
                    }
                    lastSync = DateTime.UtcNow;
                    if (job is null || JobStatus.IsTerminal(job.Status))
                    {
                        return Results.Empty;
                    }
                }

                if (await ArrivesWithinAsync(live.Reader, Resync, ct))
                {
                    while (live.Reader.TryRead(out var e))
                    {
                        if (e.Seq == last + 1)
                        {
                            (last, lastWrite) = (await WriteAsync(response, e, ct), DateTime.UtcNow);
                            if (JobEventTypes.EndsStream(e.Type))
                            {
                                return Results.Empty;
                            }
                        }
                        else if (e.Seq > last + 1)
                        {
                            lastSync = DateTime.MinValue; // a gap: read the missing ones from Postgres
                        }
                    }
                }
                if (DateTime.UtcNow - lastWrite >= KeepAlive)
                {
                    await response.WriteAsync(": keep-alive\n\n", ct);
                    await response.Body.FlushAsync(ct);
                    lastWrite = DateTime.UtcNow;
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // The client went away, or the api is stopping.
        }
        return Results.Empty;
    }

    private static IResult TooMany(HttpContext context)
    {
        context.Response.Headers.RetryAfter = "5";
        return TypedResults.Problem(statusCode: StatusCodes.Status429TooManyRequests, title: "Too many event streams",
            detail: "This caller holds as many open event streams as it may; close one (or wait for a job to end) first.");
    }

    /// <summary>
    /// GET /api/events: every job's events as they happen, live only (no replay: a client that
    /// missed some reads the jobs again). The jobs list uses it to know when to refresh.
    /// </summary>
    public static async Task<IResult> StreamAll(HttpContext context, JobEventBus bus, EventStreamSlots slots, IHostApplicationLifetime lifetime,
        CancellationToken requestAborted)
    {
        using var slot = slots.TryTake(Roles.Actor(context.User));
        if (slot is null)
        {
            return TooMany(context);
        }
        using var stopping = CancellationTokenSource.CreateLinkedTokenSource(requestAborted, lifetime.ApplicationStopping);
        var ct = stopping.Token;
        // Listening before the headers go out: a client that acts once it has them misses nothing.
        var live = Channel.CreateBounded<JobEvent>(new BoundedChannelOptions(1_000) { SingleReader = true, FullMode = BoundedChannelFullMode.DropOldest });
        await using var listening = await bus.ListenAsync(JobEventBus.AllJobs, live);
        var response = await StartAsync(context, ct);
        try
        {
            while (!ct.IsCancellationRequested)
            {
                if (await ArrivesWithinAsync(live.Reader, KeepAlive, ct))
                {
                    while (live.Reader.TryRead(out var e))
                    {
                        await response.WriteAsync($"event: {e.Type}\ndata: {JsonSerializer.Serialize(e)}\n\n", ct);
                    }
                }
                else
                {
                    await response.WriteAsync(": keep-alive\n\n", ct);
                }
                await response.Body.FlushAsync(ct);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // The client went away.
        }
        return Results.Empty;
    }

    /// <summary>Answers 200 text/event-stream whose headers go out at once (no proxy buffering).</summary>
    private static async Task<HttpResponse> StartAsync(HttpContext context, CancellationToken ct)
    {
        var response = context.Response;
        response.ContentType = "text/event-stream";
        response.Headers[HeaderNames.CacheControl] = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no";
        await response.Body.FlushAsync(ct);
        return response;
    }

    /// <summary>Whether an event arrives within <paramref name="patience"/>; false also when the client leaves.</summary>
    private static async Task<bool> ArrivesWithinAsync(ChannelReader<JobEvent> reader, TimeSpan patience, CancellationToken ct)
    {
        using var wait = CancellationTokenSource.CreateLinkedTokenSource(ct);
        wait.CancelAfter(patience);
        return await reader.WaitToReadAsync(wait.Token).AsTask().ContinueWith(t => t.IsCompletedSuccessfully && t.Result, TaskScheduler.Default);
    }

    private static async Task<int> WriteAsync(HttpResponse response, JobEvent e, CancellationToken ct)
    {
        await response.WriteAsync($"id: {e.Seq}\nevent: {e.Type}\ndata: {JsonSerializer.Serialize(e)}\n\n", ct);
        await response.Body.FlushAsync(ct);
        return e.Seq;
    }
}
