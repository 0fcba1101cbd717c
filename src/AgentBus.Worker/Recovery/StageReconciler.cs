using AgentBus.Data;
using AgentBus.Queue;
using AgentBus.Routing;
using AgentBus.Telemetry;
using Dapper;
using Microsoft.Extensions.Options;
using Npgsql;
using StackExchange.Redis;

namespace AgentBus.Worker.Recovery;

/// <summary>
/// Postgres is the record of which stages are due; Redis only carries them. When Redis comes back
/// empty (restart without persistence, failover to a stale replica, FLUSHALL) the stage runs left
/// queued or running point at stream entries that no longer exist and their jobs would wait
/// forever. This sweep finds such runs (stale, not waiting in the outbox, their task id in no
/// stream and no retry set) and re-enqueues the same task through the outbox, in the trace it was
/// queued in (stage_runs.traceparent: the request that released it, not the job's creation trace,
/// which the task links to as before). A task it re-sends
/// needlessly is only a redelivery: the job store skips or discards it (artifacts are unique per
/// task id), so at-least-once still holds without duplicate artifact versions.
/// One process at a time: the sweep runs under a transaction-scoped Postgres advisory lock.
/// </summary>
public sealed partial class StageReconciler(
    Database db, IConnectionMultiplexer redis, Outbox outbox, JobRouter router, AgentBusMetrics metrics,
    IOptions<ReconcilerOptions> options, ILogger<StageReconciler> logger) : BackgroundService
{
    // Every task id in the queues and retry sets, read atomically: a task moving between a stream
    // and a retry set (retry, promotion, gpu fallback) is seen in one of them, never in neither.
    private static readonly LuaScript LiveTasksScript = LuaScript.Prepare("""
        local ids = {}
        local function add(fields)
          for i = 1, #fields, 2 do if fields[i] == 'task_id' then ids[#ids + 1] = fields[i + 1] end end
        end
        for _, key in ipairs({@cpu, @gpu}) do
          for _, entry in ipairs(redis.call('XRANGE', key, '-', '+')) do add(entry[2]) end
        end
        for _, key in ipairs({@cpuDelayed, @gpuDelayed}) do
          for _, member in ipairs(redis.call('ZRANGE', key, 0, -1)) do add(cjson.decode(member)) end
        end
        return ids
        """);

    private readonly ReconcilerOptions _options = options.Value;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(_options.Interval);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                await ReconcileAsync(stoppingToken);
            }
            catch (Exception e) when (e is NpgsqlException or RedisException or RedisTimeoutException or TimeoutException)
            {
                // Either store down: nothing can be decided now; the next tick tries again.
                LogFailed(e.Message);
            }
        }
    }

    /// <summary>One sweep; returns how many stage runs were re-enqueued.</summary>
    public async Task<int> ReconcileAsync(CancellationToken ct)
    {
        var requeued = await db.InTransactionAsync("stage_reconcile", async (connection, transaction) =>
        {
            if (!await connection.ExecuteScalarAsync<bool>("SELECT pg_try_advisory_xact_lock(@key)", new { key = AdvisoryLocks.StageReconciler }, transaction))
            {
                return 0;
            }
            var stale = (await connection.QueryAsync<Candidate>(new CommandDefinition(
                """
                SELECT r.job_id AS jobid, j.project_id AS projectid, r.stage, r.task_id AS taskid, r.status, r.traceparent, j.traceparent AS jobtraceparent,
                       coalesce(g.requires_gpu, false) AS requiresgpu
                FROM jobs j JOIN stage_runs r USING (job_id) LEFT JOIN job_routing g USING (job_id)
                WHERE j.status IN ('queued', 'running', 'waiting_for_approval')
                  AND r.status IN ('queued', 'running') AND r.task_id IS NOT NULL
                  AND greatest(r.queued_at, r.started_at) < now() - @staleAfter
                  AND NOT EXISTS (SELECT 1 FROM task_outbox o WHERE o.task_id = r.task_id)
                ORDER BY greatest(r.queued_at, r.started_at)
                LIMIT @BatchSize
                """, new { staleAfter = _options.StaleAfter, _options.BatchSize }, transaction, cancellationToken: ct))).AsList();
            if (stale.Count == 0)
            {
                return 0;
            }

            var live = ((RedisResult[])(await redis.GetDatabase().ScriptEvaluateAsync(LiveTasksScript, new
            {
                cpu = TaskQueue.StreamKey(TaskQueue.Cpu),
                gpu = TaskQueue.StreamKey(TaskQueue.Gpu),
                cpuDelayed = TaskQueue.DelayedKey(TaskQueue.Cpu),
                gpuDelayed = TaskQueue.DelayedKey(TaskQueue.Gpu),
            }))!).Select(r => (string?)r).ToHashSet(StringComparer.OrdinalIgnoreCase);

            var count = 0;
            foreach (var lost in stale.Where(c => !live.Contains(c.TaskId.ToString())))
            {
                // Still the same task and still unfinished: a worker may have completed it since the
                // candidates were read. queued_at restarts the clock so the next sweep leaves it be.
                var still = await connection.ExecuteAsync(
                    """
                    UPDATE stage_runs SET queued_at = now()
                    WHERE job_id = @JobId AND stage = @Stage AND task_id = @TaskId AND status IN ('queued', 'running')
                    """, new { lost.JobId, lost.Stage, lost.TaskId }, transaction);
                if (still == 0)
                {
                    continue;
                }
                var queue = await router.QueueForAsync(connection, transaction, lost.JobId, lost.Stage, lost.RequiresGpu);
                await Outbox.AddAsync(connection, transaction, queue, new TaskMessage(lost.TaskId, lost.JobId, lost.ProjectId, lost.Stage, lost.Traceparent, lost.JobTraceparent));
                metrics.Reconciled.Add(1, new("queue_name", queue), new("stage_status", lost.Status));
                using (logger.BeginScope(new Dictionary<string, object?> { ["job_id"] = lost.JobId, ["project_id"] = lost.ProjectId, ["task_id"] = lost.TaskId, ["stage"] = lost.Stage }))
                {
                    LogReconciled(lost.Stage, lost.Status, queue);
                }
                count++;
            }
            return count;
        }, ct);
        if (requeued > 0)
        {
            await outbox.FlushAsync(ct);
        }
        return requeued;
    }

    private sealed record Candidate(Guid JobId, Guid ProjectId, string Stage, Guid TaskId, string Status, string? Traceparent, string? JobTraceparent, bool RequiresGpu);

    [LoggerMessage(EventId = 420, EventName = "stage_reconciled", Level = LogLevel.Warning,
        Message = "Stage {Stage} was {StageStatus} in Postgres but its task was in no queue (Redis lost it); re-enqueued on {QueueName}")]
    private partial void LogReconciled(string stage, string stageStatus, string queueName);

    [LoggerMessage(EventId = 421, EventName = "stage_reconcile_failed", Level = LogLevel.Warning, Message = "Stage reconciliation skipped: {Error}")]
    private partial void LogFailed(string error);
}
