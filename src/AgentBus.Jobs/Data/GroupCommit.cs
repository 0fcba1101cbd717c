using System.Collections.Concurrent;
using System.Diagnostics;
using AgentBus.Telemetry;
using Npgsql;

namespace AgentBus.Data;

/// <summary>
/// Group commit of job changes (a worker's stage starts and results, the api's job creations):
/// calls that arrive while a batch is being committed wait and go together in the next one, so N
/// concurrent changes cost one transaction per batch instead of N. Alone, a call goes at once (a
/// batch of one, no added wait). A batch holds at most one change per job (the state machine
/// changes a job once per transaction); a second change of the same job waits for the next batch.
/// Each item goes with its caller (its span and log scope) so that what the commit logs and queues
/// for it stays in its trace.
/// </summary>
internal sealed class GroupCommit<TItem, TResult>(string name, Func<TItem, Guid> jobOf, Func<IReadOnlyList<(TItem Item, Caller Caller)>, Task<TResult[]>> commit)
{
    private readonly ConcurrentQueue<Call> _calls = new();
    private readonly List<Call> _deferred = [];
    private int _draining;

    private sealed record Call(TItem Item, TaskCompletionSource<TResult> Result, Caller Caller);

    public Task<TResult> RunAsync(TItem item)
    {
        var call = new Call(item, new TaskCompletionSource<TResult>(TaskCreationOptions.RunContinuationsAsynchronously), Caller.Current());
        _calls.Enqueue(call);
        if (Interlocked.CompareExchange(ref _draining, 1, 0) == 0)
        {
            // Not under the caller's span: the batch gets a span of its own (below).
            using (ExecutionContext.SuppressFlow())
            {
                _ = Task.Run(DrainAsync);
            }
        }
        return call.Result.Task;
    }

    private async Task DrainAsync()
    {
        while (true)
        {
            var batch = Take();
            if (batch.Count == 0)
            {
                Volatile.Write(ref _draining, 0);
                // An empty batch leaves nothing deferred. A call enqueued after Take() but before the
                // reset found _draining set: pick it up.
                if (_calls.IsEmpty || Interlocked.CompareExchange(ref _draining, 1, 0) != 0)
                {
                    return;
                }
                continue;
            }
            await CommitAsync(batch);
        }
    }

    private List<Call> Take()
    {
        var jobs = new HashSet<Guid>();
        var batch = new List<Call>();
        var waiting = _deferred.ToList();
        _deferred.Clear();
        while (_calls.TryDequeue(out var call))
        {
            waiting.Add(call);
        }
        foreach (var call in waiting)
        {
            (jobs.Add(jobOf(call.Item)) ? batch : _deferred).Add(call);
        }
        return batch;
    }

    private async Task CommitAsync(List<Call> batch)
    {
        // Alone, the call's statements stay in its task's trace. A batch of several gets a trace of
        // its own linked to each task's span: its statements and job event log lines belong to all
        // of them, so none of their traces should claim them.
        using var activity = batch.Count == 1
            ? AgentBusTracing.Source.StartActivity(name, ActivityKind.Internal, batch[0].Caller.SpanContext)
            : AgentBusTracing.Source.StartActivity(name, ActivityKind.Internal, default(ActivityContext),
                links: batch.Where(c => c.Caller.SpanContext != default).Select(c => new ActivityLink(c.Caller.SpanContext)));
        activity?.SetTag("agentbus.batch.size", batch.Count);
        if (batch.Count == 1)
        {
            // Set before the statements start, so that their spans inherit it (JobSpanTags).
            activity?.SetTag("job.id", jobOf(batch[0].Item));
        }
        try
        {
            var results = await commit([.. batch.Select(c => (c.Item, c.Caller))]);
            for (var i = 0; i < batch.Count; i++)
            {
                batch[i].Result.TrySetResult(results[i]);
            }
        }
        catch (PostgresException) when (batch.Count > 1)
        {
            // A statement failed for one of them (the server answered, so it is not an outage):
            // each goes alone, so one bad task does not fail the others.
            foreach (var call in batch)
            {
                await CommitAsync([call]);
            }
        }
        catch (Exception e)
        {
            foreach (var call in batch)
            {
                call.Result.TrySetException(e);
            }
        }
    }
}
