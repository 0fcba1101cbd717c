using System.Diagnostics;
using System.Text.Json;
using AgentBus.Data;
using AgentBus.Events;
using AgentBus.Jobs;
using AgentBus.Queue;
using AgentBus.Routing;
using AgentBus.Telemetry;
using AgentBus.Webhooks;
using Dapper;
using Npgsql;

namespace AgentBus.Store;

/// <summary>
/// The open transaction's change to one job, with what it queued and emitted; a transaction
/// may change several jobs (one change each). Reads and conditional writes run at once; the
/// jobs' new states, their events and the tasks they queue are kept and written by
/// <see cref="WriteAsync"/> in one round trip just before the commit: one version of each job
/// row per transaction. Created and run only by <see cref="JobTransactions"/>.
/// </summary>
internal sealed class JobChange(NpgsqlConnection connection, NpgsqlTransaction transaction, JobRouter router)
{
    public NpgsqlConnection Connection { get; } = connection;
    public NpgsqlTransaction Transaction { get; } = transaction;
    public JobRow? Job { get; private set; }
    public string? Status { get; private set; }

    /// <summary>The events this change wrote, complete once <see cref="WriteAsync"/> ran.</summary>
    public List<JobEvent> Events { get; } = [];

    // jobs.event_seq as locked (0 for a job this change created), and the events not yet written.
    private int _eventSeq;
    // Postgres restarted since the job's last event was written: event_seq may have rolled back
    // past numbers that were published (see EpochGap).
    private bool _newEpoch;
    private readonly List<(int Seq, string Type, string? Stage, string Json)> _pendingEvents = [];
    private readonly List<(TaskMessage Task, string? Notes, string Queue)> _queued = [];
    private bool _requiresGpu;
    // jobs.traceparent: the request that created the job, which its tasks link to.
    private string? _jobTraceParent;
    // The job row's new values; null leaves a column as it is. _ended: true finishes the job
    // (error columns and completed_at set, open stages canceled), false reopens it (cleared).
    private string? _newStatus, _newStage, _errorCode, _errorMessage;
    private bool? _ended;

    public (string Status, TimeSpan Duration)? Finished { get; private set; }

    public StageRunRow? Run { get; private set; }

    /// <summary>Who asked for this change when it is part of a batch.</summary>
    public Caller? Caller { get; private init; }

    /// <summary>A job this transaction created: nobody else can see it before the commit.</summary>
    public static JobChange Created(NpgsqlConnection connection, NpgsqlTransaction transaction, JobRouter router, JobRow job, bool requiresGpu, Caller? caller,
        string? traceParent) =>
        new(connection, transaction, router) { Job = job, Status = job.Status, _requiresGpu = requiresGpu, Caller = caller, _jobTraceParent = traceParent };

    /// <summary>
    /// Locks the jobs of <paramref name="targets"/> in id order and reads, under the locks, their
    /// event numbers, routing and the named stage runs: one round trip. A change's Job is null
    /// when its job does not exist.
    /// </summary>
    public static async Task<IReadOnlyList<JobChange>> LockAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, JobRouter router,
        IReadOnlyList<(Guid JobId, string? Stage, Caller? Caller)> targets, bool durable)
    {
        if (targets.DistinctBy(t => t.JobId).Count() != targets.Count)
        {
            throw new ArgumentException("one change per job and transaction", nameof(targets));
        }
        var withStage = targets.Where(t => t.Stage is not null).ToList();
        // The statements run in order, so the rest is read under the locks.
        var read = new SqlStatement(
            $"SELECT {Columns.Job} FROM jobs WHERE job_id = ANY(@jobIds) ORDER BY job_id FOR UPDATE;\n"
            + "SELECT j.job_id, j.event_seq, coalesce(r.requires_gpu, false), j.event_epoch IS DISTINCT FROM pg_postmaster_start_time(), j.traceparent "
            + "FROM jobs j LEFT JOIN job_routing r USING (job_id) WHERE j.job_id = ANY(@jobIds);\n"
            + (withStage.Count == 0 ? "" :
                $"SELECT s.job_id, {Columns.StageRun.Replace("stage, ", "s.stage, ", StringComparison.Ordinal)}, s.lease_entry FROM stage_runs s "
                + "JOIN unnest(@runJobIds, @runStages) AS t(job_id, stage) ON s.job_id = t.job_id AND s.stage = t.stage WHERE s.job_id = ANY(@runJobIds)"),
            new
            {
                jobIds = targets.Select(t => t.JobId).ToArray(),
                runJobIds = withStage.Select(t => t.JobId).ToArray(), runStages = withStage.Select(t => t.Stage).ToArray(),
            });
        var batch = new SqlBatch().Add(TransactionSettings.KeyLookupPlans);
        if (!durable)
        {
            batch.Add(TransactionSettings.AsyncCommit);
        }
        await using var results = await connection.QueryMultipleAsync(batch.Add(read).Command(transaction));
        var jobs = (await results.ReadAsync<JobRow>()).ToDictionary(j => j.JobId);
        var seqs = (await results.ReadAsync<(Guid JobId, int EventSeq, bool RequiresGpu, bool NewEpoch, string? TraceParent)>()).ToDictionary(r => r.JobId);
        var runs = withStage.Count == 0 ? [] : (await results.ReadAsync<StageRunRow>()).ToDictionary(r => r.JobId);
        return [.. targets.Select(t =>
        {
            var change = new JobChange(connection, transaction, router) { Job = jobs.GetValueOrDefault(t.JobId), Caller = t.Caller };
            change.Status = change.Job?.Status;
            (_, change._eventSeq, change._requiresGpu, change._newEpoch, change._jobTraceParent) = seqs.GetValueOrDefault(t.JobId);
            change.Run = t.Stage is null ? null : runs.GetValueOrDefault(t.JobId);
            return change;
        })];
    }

    /// <summary>The job's new status (running also sets started_at the first time).</summary>
    public void SetStatus(string status) => Status = _newStatus = status;

    /// <summary>The stage the job is at, as GET /api/jobs/{id} shows it.</summary>
    public void SetStage(string stage) => _newStage = stage;

    /// <summary>
    /// The job ends: its stages still pending, queued or running are canceled with the write.
    /// <paramref name="by"/> names the person or key who ended it (reject, cancel); null when the
    /// pipeline did (completed, failed).
    /// </summary>
    public void Finish(string status, string eventType, string? errorCode, string? message, string? by = null)
    {
        SetStatus(status);
        (_ended, _errorCode, _errorMessage) = (true, errorCode, message);
        Finished = (status, DateTime.UtcNow - Job!.CreatedAt);
        AddEvent(eventType, null, by is null ? (object)new { status, error_code = errorCode, message } : new { status, error_code = errorCode, message, by });
    }

    /// <summary>A finished job runs again: its error and completion time are cleared.</summary>
    public void Reopen()
    {
        SetStatus(JobStatus.Running);
        (_ended, _errorCode, _errorMessage) = (false, null, null);
    }

    public async Task QueueStageAsync(string stage, string? notes = null)
    {
        // The producer span of the task; its context travels in the message (traceparent), is kept
        // with the stage run (stage_runs.traceparent, for the reconciler's re-send) and becomes the
        // parent of the worker's "consume {stage}" span. Its parent is the caller's span: the
        // current one (a person's request: approve, request changes, resume, requeue), or for a
        // batched change the span of the task that asked. So a stage runs in the trace of what
        // released it, never in one that waited for a person.
        using var enqueue = AgentBusTracing.Source.StartActivity($"enqueue {stage}", ActivityKind.Producer, Caller?.SpanContext ?? default);
        enqueue?.SetTag("job.id", Job!.JobId).SetTag("project.id", Job.ProjectId).SetTag("stage", stage)
            .SetTag("messaging.system", "redis").SetTag("messaging.operation.type", "create");
        var task = new TaskMessage(Guid.CreateVersion7(), Job!.JobId, Job.ProjectId, stage, enqueue?.Id ?? (Caller is null ? Activity.Current : Caller.Span)?.Id,
            _jobTraceParent);
        var queue = await router.QueueForAsync(Connection, Transaction, Job.JobId, stage, _requiresGpu);
        enqueue?.SetTag("messaging.destination.name", queue);
        _queued.Add((task, notes, queue));
        AddEvent(JobEventTypes.StageQueued, stage, new { task_id = task.TaskId, queue });
    }

    /// <summary>
    /// How far a job's event numbers jump at its first event after Postgres restarted. Stage starts
    /// commit without waiting for the WAL flush and their events are published at once, so a crash
    /// can undo numbers a client has already seen; the jump keeps them from being given to other
    /// events, which that client would then skip on resuming (a job loses at most a few such events).
    /// </summary>
    public const int EpochGap = 1000;

    /// <summary>
    /// Takes the job's next event number. The job's row is locked (or created) by this
    /// transaction, so the numbers increase without gaps within one run of Postgres.
    /// </summary>
    public void AddEvent(string type, string? stage, object data)
    {
        if (_newEpoch)
        {
            (_eventSeq, _newEpoch) = (_eventSeq + EpochGap, false);
        }
        _pendingEvents.Add((++_eventSeq, type, stage, JsonSerializer.Serialize(data)));
    }

    private bool HasWrites => _pendingEvents.Count > 0 || _newStatus is not null || _newStage is not null || _queued.Count > 0;

    private const string WriteJobsAndEvents =
        """
        WITH job AS (
          UPDATE jobs j SET event_seq = w.last, updated_at = now(),
            event_epoch = CASE WHEN w.last <> j.event_seq THEN pg_postmaster_start_time() ELSE j.event_epoch END,
            status = coalesce(w.status, j.status),
            stage = coalesce(w.stage, j.stage),
            started_at = CASE WHEN w.status = 'running' THEN coalesce(j.started_at, now()) ELSE j.started_at END,
            error_code = CASE WHEN w.ended IS NULL THEN j.error_code ELSE w.error_code END,
            error_message = CASE WHEN w.ended IS NULL THEN j.error_message ELSE w.error_message END,
            completed_at = CASE WHEN w.ended IS NULL THEN j.completed_at WHEN w.ended THEN now() END
          FROM unnest(@jobIds, @lasts, @statuses, @jobStages, @endeds, @errorCodes, @errorMessages)
            AS w(job_id, last, status, stage, ended, error_code, error_message)
          WHERE j.job_id = ANY(@jobIds) AND j.job_id = w.job_id),
        events AS (
          INSERT INTO job_events (job_id, seq, type, stage, data)
          SELECT e.job_id, e.seq, e.type, e.stage, e.data::jsonb FROM unnest(@eventJobIds, @seqs, @types, @stages, @data) AS e(job_id, seq, type, stage, data))
        """;

    // The open stages of the jobs that ended.
    private const string WriteCanceledStages =
        """
        ,
        canceled AS (
          UPDATE stage_runs SET status = 'canceled' WHERE job_id = ANY(@endedJobIds) AND status IN ('pending', 'queued', 'running'))
        """;

    // The queued stages (their tasks go to the outbox in the next statement). A stage's row is made
    // the first time it is queued: a stage without one is pending (see JobDetail.WithStages).
    private const string WriteQueuedStages =
        """
        ,
        queued AS (
          INSERT INTO stage_runs AS r (job_id, stage, agent_type, status, task_id, notes, traceparent, queued_at)
          SELECT q.job_id, q.stage, q.agent_type, 'queued', q.task_id, q.notes, q.traceparent, now()
          FROM unnest(@queuedJobIds, @queuedStages, @queuedAgentTypes, @queuedTaskIds, @queuedNotes, @queuedTraceParents)
            AS q(job_id, stage, agent_type, task_id, notes, traceparent)
          ON CONFLICT (job_id, stage) DO UPDATE SET status = 'queued', task_id = excluded.task_id, notes = excluded.notes,
            traceparent = excluded.traceparent, queued_at = excluded.queued_at, completed_at = NULL, error = NULL)
        """;

    /// <summary>
    /// The job rows, the events and the queued stages of the changes in one statement, and the
    /// queued tasks' outbox rows and the events' webhook deliveries: one round trip. Returns the outbox rows' ids.
    /// </summary>
    public static async Task<long[]> WriteAsync(IReadOnlyList<JobChange> changes)
    {
        var writes = changes.Where(c => c.HasWrites).ToList();
        if (writes.Count == 0)
        {
            return [];
        }
        var events = writes.SelectMany(c => c._pendingEvents.Select(e => (c.Job!.JobId, e))).ToList();
        var queued = writes.SelectMany(c => c._queued).ToList();
        var ended = writes.Where(c => c._ended == true).Select(c => c.Job!.JobId).ToArray();
        // now() is the transaction's start: the created_at of every event below.
        var write = new SqlStatement(
            WriteJobsAndEvents + (ended.Length > 0 ? WriteCanceledStages : "") + (queued.Count > 0 ? WriteQueuedStages : "") + "\nSELECT now()",
            new
            {
                jobIds = writes.Select(c => c.Job!.JobId).ToArray(), lasts = writes.Select(c => c._eventSeq).ToArray(),
                statuses = writes.Select(c => c._newStatus).ToArray(), jobStages = writes.Select(c => c._newStage).ToArray(),
                endeds = writes.Select(c => c._ended).ToArray(),
                errorCodes = writes.Select(c => c._errorCode).ToArray(), errorMessages = writes.Select(c => c._errorMessage).ToArray(),
                eventJobIds = events.Select(e => e.JobId).ToArray(), seqs = events.Select(e => e.e.Seq).ToArray(),
                types = events.Select(e => e.e.Type).ToArray(), stages = events.Select(e => e.e.Stage).ToArray(), data = events.Select(e => e.e.Json).ToArray(),
                endedJobIds = ended,
                queuedJobIds = queued.Select(q => q.Task.JobId).ToArray(), queuedStages = queued.Select(q => q.Task.Stage).ToArray(),
                queuedAgentTypes = queued.Select(q => Pipeline.ByName[q.Task.Stage].AgentType).ToArray(),
                queuedTaskIds = queued.Select(q => q.Task.TaskId).ToArray(), queuedNotes = queued.Select(q => q.Notes).ToArray(),
                queuedTraceParents = queued.Select(q => q.Task.TraceParent).ToArray(),
            });
        var batch = new SqlBatch().Add(write);
        if (queued.Count > 0)
        {
            batch.Add(Outbox.Insert(queued.Select(q => (q.Queue, q.Task))));
        }
        // Webhook deliveries commit with their events (WebhookOutbox says why); no result set.
        var hooked = events.Where(e => WebhookEvents.IsSource(e.e.Type)).Select(e => (e.JobId, e.e.Seq)).ToList();
        if (hooked.Count > 0)
        {
            batch.Add(WebhookOutbox.Insert(hooked));
        }
        var first = writes[0];
        await using var results = await first.Connection.QueryMultipleAsync(batch.Command(first.Transaction));
        var createdAt = await results.ReadSingleAsync<DateTime>();
        var outboxIds = queued.Count > 0 ? (await results.ReadAsync<long>()).ToArray() : [];
        foreach (var change in writes)
        {
            foreach (var e in change._pendingEvents)
            {
                change.Events.Add(new JobEvent(change.Job!.JobId, e.Seq, e.Type, e.Stage, JsonSerializer.Deserialize<JsonElement>(e.Json), new DateTimeOffset(createdAt, TimeSpan.Zero)));
            }
            change._pendingEvents.Clear();
        }
        return outboxIds;
    }
}
