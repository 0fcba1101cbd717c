using AgentBus.Data;
using AgentBus.Events;
using AgentBus.Queue;
using AgentBus.Routing;
using AgentBus.Telemetry;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace AgentBus.Store;

/// <summary>
/// The transaction every job change goes through: the jobs are locked (or created), the caller
/// changes them (<see cref="JobChange"/>), their rows, events and tasks are written, and after the
/// commit the events are logged and published and the tasks handed to Redis. Shared by
/// <see cref="JobCommands"/> and <see cref="StageLedger"/>.
/// </summary>
internal sealed partial class JobTransactions(Database db, Outbox outbox, JobEventBus eventBus, AgentBusMetrics metrics, JobRouter router, ILogger<JobTransactions> logger)
{
    public JobRouter Router => router;

    /// <summary>
    /// Runs <paramref name="work"/> on the locked job (with <paramref name="stage"/>'s run read in the
    /// same round trip when given).
    /// </summary>
    public Task<T> ChangeAsync<T>(string queryType, Guid jobId, Func<JobChange, Task<T>> work, CancellationToken ct, string? stage = null) =>
        ChangesAsync(queryType, [(jobId, stage, null)], changes => work(changes[0]), ct);

    /// <summary>
    /// Runs <paramref name="work"/> on the locked jobs of <paramref name="targets"/> (distinct jobs,
    /// locked in id order, so that two such transactions never deadlock), one change per target in
    /// the same order. A change that is not <paramref name="durable"/> commits without waiting for
    /// the WAL flush: only for changes a Postgres crash may undo because the tasks that made them
    /// are still unacknowledged in Redis and run again (see stage_begin).
    /// </summary>
    public Task<T> ChangesAsync<T>(string queryType, IReadOnlyList<(Guid JobId, string? Stage, Caller? Caller)> targets, Func<IReadOnlyList<JobChange>, Task<T>> work,
        CancellationToken ct, bool durable = true) =>
        ChangesAsync(queryType, (connection, transaction) => JobChange.LockAsync(connection, transaction, router, targets, durable), work, ct);

    /// <summary>
    /// <paramref name="open"/> locks (or creates) the jobs, <paramref name="work"/> changes them. A
    /// change's caller, when it has one, is where its log lines are written and the parent of the
    /// spans of the tasks it queues (a batch runs outside its callers).
    /// </summary>
    public async Task<T> ChangesAsync<T>(string queryType, Func<NpgsqlConnection, NpgsqlTransaction, Task<IReadOnlyList<JobChange>>> open,
        Func<IReadOnlyList<JobChange>, Task<T>> work, CancellationToken ct)
    {
        IReadOnlyList<JobChange> changes = [];
        long[] outboxIds = [];
        var result = await db.InTransactionAsync(queryType, async (connection, transaction) =>
        {
            changes = await open(connection, transaction);
            var value = await work(changes);
            outboxIds = await JobChange.WriteAsync(changes);
            return value;
        }, ct);

        foreach (var (status, duration) in changes.Select(c => c.Finished).OfType<(string, TimeSpan)>())
        {
            metrics.JobsCompleted.Add(1, new KeyValuePair<string, object?>("status", status));
            metrics.JobDuration.Record(duration.TotalSeconds);
        }
        foreach (var change in changes.Where(c => c.Events.Count > 0))
        {
            void Log()
            {
                foreach (var e in change.Events)
                {
                    LogJobEvent(e.Type, e.JobId, change.Job!.ProjectId, e.Stage, e.Seq);
                }
            }
            if (change.Caller is { } caller)
            {
                caller.Run(Log);
            }
            else
            {
                Log();
            }
        }
        if (changes.Any(c => c.Events.Count > 0))
        {
            await PublishQuietlyAsync(changes.SelectMany(c => c.Events));
        }
        if (outboxIds.Length > 0)
        {
            await outbox.HandOffAsync(outboxIds, CancellationToken.None);
        }
        return result;
    }

    /// <summary>Asks every consumer to stop the job's in-flight work; a failure only delays the stop.</summary>
    public async Task PublishStopQuietlyAsync(Guid jobId)
    {
        try
        {
            await eventBus.PublishStopAsync(jobId);
        }
        catch (Exception e) when (e is StackExchange.Redis.RedisException or TimeoutException)
        {
            // A running stage then ends when it tries to commit: the job is already final.
            LogPublishFailed(e.Message);
        }
    }

    private async Task PublishQuietlyAsync(IEnumerable<JobEvent> events)
    {
        try
        {
            await eventBus.PublishAsync(events);
        }
        catch (Exception e) when (e is StackExchange.Redis.RedisException or TimeoutException)
        {
            // Listeners re-read Postgres, so a lost live event is only late.
            LogPublishFailed(e.Message);
        }
    }

    private void LogJobEvent(string type, Guid jobId, Guid? projectId, string? stage, int seq)
    {
        // The event name of the log line is the job event's type (job_created, stage_started, ...).
        using var scope = logger.BeginScope(new Dictionary<string, object?> { ["job_id"] = jobId, ["project_id"] = projectId });
        logger.Log(LogLevel.Information, new EventId(300, type), "{Event} job {JobId} project {ProjectId} stage {Stage} seq {Seq}", type, jobId, projectId, stage, seq);
    }

    [LoggerMessage(EventId = 301, EventName = "event_publish_failed", Level = LogLevel.Warning, Message = "Live event publish failed ({Error}); listeners will read it from Postgres")]
    private partial void LogPublishFailed(string error);
}
