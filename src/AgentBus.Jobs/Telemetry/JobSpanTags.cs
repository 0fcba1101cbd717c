using System.Collections.Concurrent;
using System.Diagnostics;
using OpenTelemetry;

namespace AgentBus.Telemetry;

/// <summary>
/// Gives a span started inside a span that names a job (job.id) the same attribute: the Postgres
/// and Redis commands, model calls and HTTP requests of a job's work name no job of their own, and
/// one query by job.id must find all of a job, whose work spans several traces (its creation's,
/// and one for each person's request that released stages).
/// </summary>
internal sealed class JobSpanTags : BaseProcessor<Activity>
{
    public const string JobId = "job.id";

    // The Redis client's spans are made from its profiling sessions after their parent ended, on
    // another thread, with only the parent's context: the spans that named a job are remembered
    // by span id for a while after they end (the sessions are flushed every few seconds).
    private static readonly long RememberedMs = (long)TimeSpan.FromMinutes(1).TotalMilliseconds;
    private readonly ConcurrentDictionary<ActivitySpanId, (object JobId, long EndedAt)> _ended = new();
    private long _nextSweep;

    public override void OnStart(Activity data)
    {
        if (data.GetTagItem(JobId) is not null)
        {
            return;
        }
        // Parent is the in-process parent when the span was started inside it; a span continued
        // from a message or request has none and names its job itself (consume, the api's actions).
        var jobId = data.Parent is { } parent ? parent.GetTagItem(JobId)
            : data.ParentSpanId != default && _ended.TryGetValue(data.ParentSpanId, out var ended) ? ended.JobId : null;
        if (jobId is not null)
        {
            data.SetTag(JobId, jobId);
        }
    }

    public override void OnEnd(Activity data)
    {
        if (data.GetTagItem(JobId) is not { } jobId)
        {
            return;
        }
        var now = Environment.TickCount64;
        _ended[data.SpanId] = (jobId, now);
        if (now >= Interlocked.Read(ref _nextSweep))
        {
            Interlocked.Exchange(ref _nextSweep, now + RememberedMs);
            foreach (var (spanId, entry) in _ended)
            {
                if (now - entry.EndedAt > RememberedMs)
                {
                    _ended.TryRemove(spanId, out _);
                }
            }
        }
    }
}
