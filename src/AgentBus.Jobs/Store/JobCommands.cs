using System.Diagnostics;
using AgentBus.Data;
using AgentBus.Events;
using AgentBus.Jobs;
using AgentBus.Routing;
using AgentBus.Spend;
using AgentBus.Telemetry;
using Dapper;
using Npgsql;

namespace AgentBus.Store;

/// <summary>
/// What people do to jobs: submit a project (its job starts), and the operator actions: approve,
/// request changes, reject, cancel, resume after a budget stop, set a budget. Each is one job
/// change (<see cref="JobTransactions"/>); creations that arrive together commit together.
/// </summary>
public sealed class JobCommands
{
    private readonly Database _db;
    private readonly JobTransactions _transactions;
    private readonly AgentBusMetrics _metrics;
    // Creations that arrive while another batch commits go together in the next (group commit).
    private readonly GroupCommit<NewProject, ProjectCreation> _creations;

    internal JobCommands(Database db, JobTransactions transactions, AgentBusMetrics metrics)
    {
        (_db, _transactions, _metrics) = (db, transactions, metrics);
        _creations = new("job_create", p => p.JobId, CreateAllAsync);
    }

    /// <summary>
    /// Project, job, its stage runs, its routing, the first task and the job_created event: one
    /// transaction, shared with the creations that arrive while another batch commits. With an
    /// <paramref name="idempotency"/> key, the key is claimed in that transaction (idempotency_keys,
    /// primary key caller and key), so of several calls with one key, on any replicas and at the
    /// same moment, exactly one creates; the others answer its project and job (Replayed), or
    /// KeyReused when their request differs from the one the key was first used with. A key counts
    /// for <see cref="IdempotencyKey.Lifetime"/>.
    /// </summary>
    public async Task<ProjectCreation> CreateAsync(string name, string requirements, string metadataJson, decimal? budgetUsd, bool? requiresGpu,
        IdempotencyKey? idempotency, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        var project = new NewProject(Guid.CreateVersion7(), Guid.CreateVersion7(), name, requirements, metadataJson, budgetUsd, requiresGpu, RerunBy: null, idempotency);
        var result = await _creations.RunAsync(project);
        if (result.Outcome == CreationOutcome.Created)
        {
            Counted(project);
        }
        else
        {
            Activity.Current?.SetTag("idempotency.outcome", result.Outcome == CreationOutcome.Replayed ? "replayed" : "key_reused");
        }
        return result;
    }

    /// <summary>
    /// A new job for an existing project, from its requirements as they are now (the PRD starts
    /// afresh; earlier jobs keep their artifacts). <paramref name="requiresGpu"/> overrides the
    /// detector as on creation. The job_created event names who re-ran it.
    /// </summary>
    public async Task<Guid> RerunAsync(ProjectRow project, bool? requiresGpu, string actor, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        var run = new NewProject(project.ProjectId, Guid.CreateVersion7(), project.Name, project.Requirements, project.Metadata, project.BudgetUsd, requiresGpu, RerunBy: actor);
        await StartAsync(run);
        return run.JobId;
    }

    private async Task StartAsync(NewProject project)
    {
        await _creations.RunAsync(project);
        Counted(project);
    }

    private void Counted(NewProject project)
    {
        _metrics.JobsCreated.Add(1);
        Activity.Current?.SetTag("job.id", project.JobId).SetTag("project.id", project.ProjectId);
    }

    /// <summary>A job to start, of a new project or, when RerunBy is set, of an existing one.</summary>
    private sealed record NewProject(Guid ProjectId, Guid JobId, string Name, string Requirements, string MetadataJson, decimal? BudgetUsd, bool? RequiresGpu,
        string? RerunBy, IdempotencyKey? Idempotency = null);

    /// <summary>A row of idempotency_keys: the request a key was first used with and what it created.</summary>
    internal sealed class KeyClaim
    {
        public string Caller { get; init; } = "";
        public string Key { get; init; } = "";
        public string RequestHash { get; init; } = "";
        public Guid ProjectId { get; init; }
        public Guid JobId { get; init; }
    }

    /// <summary>
    /// Claims the batch's keys (each caller's key once, in key order so two batches never wait on
    /// each other in a circle) and reads back, for each, the request and ids it stands for: this
    /// batch's own when the key was free or expired, else those of the creation that holds it. A
    /// claim that meets a key another transaction is inserting waits for it: if that one commits,
    /// its row is read (a new statement sees it); if it rolls back, this one inserts. DO UPDATE
    /// (not DO NOTHING) takes over an expired row, and locks a live one until this transaction
    /// ends, so the cleanup after it cannot delete the row it is about to read. The cleanup then
    /// deletes up to 100 expired keys, oldest first, skipping any another transaction holds: each
    /// keyed batch removes more than it adds, so the table keeps about a lifetime of keys.
    /// </summary>
    private static async Task<Dictionary<(string Caller, string Key), KeyClaim>> ClaimKeysAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, IReadOnlyList<NewProject> projects)
    {
        var claims = projects.Where(p => p.Idempotency is not null).DistinctBy(p => (p.Idempotency!.Caller, p.Idempotency.Key)).ToList();
        var claim = new SqlStatement(
            $"""
            INSERT INTO idempotency_keys (caller, key, request_hash, project_id, job_id, expires_at)
              SELECT c.caller, c.key, c.request_hash, c.project_id, c.job_id, now() + interval '{(long)IdempotencyKey.Lifetime.TotalSeconds} seconds'
              FROM unnest(@claimCallers, @claimKeys, @claimHashes, @claimProjectIds, @claimJobIds) AS c(caller, key, request_hash, project_id, job_id)
              ORDER BY c.caller, c.key
              ON CONFLICT (caller, key) DO UPDATE
                SET request_hash = EXCLUDED.request_hash, project_id = EXCLUDED.project_id, job_id = EXCLUDED.job_id,
                    created_at = now(), expires_at = EXCLUDED.expires_at
                WHERE idempotency_keys.expires_at < now();
            DELETE FROM idempotency_keys WHERE (caller, key) IN (
              SELECT caller, key FROM idempotency_keys WHERE expires_at < now() ORDER BY expires_at LIMIT 100 FOR UPDATE SKIP LOCKED);
            SELECT caller, key, request_hash, project_id, job_id FROM idempotency_keys
              WHERE caller = ANY(@claimCallers) AND key = ANY(@claimKeys)
            """,
            new
            {
                claimCallers = claims.Select(p => p.Idempotency!.Caller).ToArray(), claimKeys = claims.Select(p => p.Idempotency!.Key).ToArray(),
                claimHashes = claims.Select(p => p.Idempotency!.RequestHash).ToArray(),
                claimProjectIds = claims.Select(p => p.ProjectId).ToArray(), claimJobIds = claims.Select(p => p.JobId).ToArray(),
            });
        var rows = await connection.QueryAsync<KeyClaim>(new SqlBatch().Add(TransactionSettings.KeyLookupPlans).Add(claim).Command(transaction));
        return rows.ToDictionary(r => (r.Caller, r.Key));
    }

    private async Task<ProjectCreation[]> CreateAllAsync(IReadOnlyList<(NewProject Item, Caller Caller)> calls)
    {
        var results = new ProjectCreation[calls.Count];
        List<int> creating = [];
        await _transactions.ChangesAsync("job_create", async (connection, transaction) =>
        {
            // Keys first: a call whose key stands for another creation creates nothing.
            var keys = calls.Any(c => c.Item.Idempotency is not null)
                ? await ClaimKeysAsync(connection, transaction, [.. calls.Select(c => c.Item)])
                : null;
            for (var i = 0; i < calls.Count; i++)
            {
                var p = calls[i].Item;
                if (p.Idempotency is not { } key)
                {
                    creating.Add(i);
                    continue;
                }
                var held = keys![(key.Caller, key.Key)];
                if (held.JobId == p.JobId)
                {
                    creating.Add(i);
                }
                else
                {
                    results[i] = held.RequestHash == key.RequestHash
                        ? new ProjectCreation(CreationOutcome.Replayed, held.ProjectId, held.JobId)
                        : new ProjectCreation(CreationOutcome.KeyReused, Guid.Empty, Guid.Empty);
                }
            }
            if (creating.Count == 0)
            {
                return [];
            }

            // One round trip; the new job rows come back, so they need no locking read.
            var projects = creating.Select(i => calls[i].Item).ToList();
            var created = projects.Where(p => p.RerunBy is null).ToList();
            var routings = projects.Select(p => JobRouter.Decide(p.Name, p.Requirements, p.RequiresGpu)).ToList();
            var traceParents = creating.Select(i => calls[i].Caller.Span is { IdFormat: ActivityIdFormat.W3C } span ? span.Id : null).ToArray();
            var insert = new SqlStatement(
                $"""
                INSERT INTO projects (project_id, name, requirements, metadata, budget_usd)
                  SELECT p.project_id, p.name, p.requirements, p.metadata::jsonb, p.budget_usd
                  FROM unnest(@newProjectIds, @names, @requirements, @metadata, @budgets) AS p(project_id, name, requirements, metadata, budget_usd);
                INSERT INTO jobs (job_id, project_id, status, stage, traceparent)
                  SELECT j.job_id, j.project_id, 'queued', 'prd', j.traceparent FROM unnest(@jobIds, @projectIds, @traceParents) AS j(job_id, project_id, traceparent)
                  RETURNING {Columns.Job}
                """,
                new
                {
                    newProjectIds = created.Select(p => p.ProjectId).ToArray(), names = created.Select(p => p.Name).ToArray(),
                    requirements = created.Select(p => p.Requirements).ToArray(), metadata = created.Select(p => p.MetadataJson).ToArray(),
                    budgets = created.Select(p => p.BudgetUsd).ToArray(),
                    projectIds = projects.Select(p => p.ProjectId).ToArray(), jobIds = projects.Select(p => p.JobId).ToArray(),
                    traceParents,
                });
            // The claim (when there was one) already set this transaction's plan settings.
            var batch = (keys is null ? new SqlBatch().Add(TransactionSettings.KeyLookupPlans) : new SqlBatch()).Add(insert)
                .Add(JobRouter.Record([.. projects.Select((p, i) => (p.JobId, routings[i]))]));
            var jobs = (await connection.QueryAsync<JobRow>(batch.Command(transaction))).ToDictionary(j => j.JobId);
            return [.. creating.Select((c, i) => JobChange.Created(connection, transaction, _transactions.Router, jobs[calls[c].Item.JobId], routings[i].RequiresGpu, calls[c].Caller,
                traceParents[i]))];
        }, async changes =>
        {
            for (var i = 0; i < creating.Count; i++)
            {
                var p = calls[creating[i]].Item;
                changes[i].AddEvent(JobEventTypes.JobCreated, null, p.RerunBy is null
                    ? (object)new { project_id = p.ProjectId, name = p.Name }
                    : new { project_id = p.ProjectId, name = p.Name, rerun_by = p.RerunBy });
                await changes[i].QueueStageAsync(Pipeline.Prd);
                results[creating[i]] = new ProjectCreation(CreationOutcome.Created, p.ProjectId, p.JobId);
            }
            return true;
        }, CancellationToken.None);
        return results;
    }

    public Task<Transition> ApproveAsync(Guid jobId, string actor, string? notes, CancellationToken ct) =>
        OperatorActionAsync("job_approve", jobId, [JobStatus.WaitingForApproval], async change =>
        {
            change.SetStatus(JobStatus.Running);
            change.AddEvent(JobEventTypes.JobApproved, Pipeline.Prd, new { notes, by = actor });
            foreach (var next in Pipeline.Ready(new HashSet<string> { Pipeline.Prd }))
            {
                await change.QueueStageAsync(next.Name);
            }
        }, ct);

    public Task<Transition> RequestChangesAsync(Guid jobId, string actor, string notes, CancellationToken ct) =>
        OperatorActionAsync("job_request_changes", jobId, [JobStatus.WaitingForApproval], async change =>
        {
            change.SetStatus(JobStatus.Running);
            change.AddEvent(JobEventTypes.ChangesRequested, Pipeline.Prd, new { notes, by = actor });
            await change.QueueStageAsync(Pipeline.Prd, notes);
        }, ct);

    public Task<Transition> RejectAsync(Guid jobId, string actor, string? reason, CancellationToken ct) =>
        OperatorActionAsync("job_reject", jobId, [JobStatus.WaitingForApproval], change =>
        {
            change.Finish(JobStatus.Rejected, JobEventTypes.JobRejected, "rejected", reason, actor);
            return Task.CompletedTask;
        }, ct);

    public Task<Transition> CancelAsync(Guid jobId, string actor, string? reason, CancellationToken ct) =>
        OperatorActionAsync("job_cancel", jobId, JobStatus.Active, change =>
        {
            change.Finish(JobStatus.Canceled, JobEventTypes.JobCanceled, "canceled", reason, actor);
            return Task.CompletedTask;
        }, ct);

    private async Task<Transition> OperatorActionAsync(string queryType, Guid jobId, string[] allowedFrom, Func<JobChange, Task> act, CancellationToken ct)
    {
        using var span = StartLinkedToJobTrace(queryType, await FindJobTraceAsync(jobId, ct));
        var result = await _transactions.ChangeAsync(queryType, jobId, work: async change =>
        {
            if (change.Job is null)
            {
                return new Transition(TransitionOutcome.NotFound);
            }
            if (!allowedFrom.Contains(change.Job.Status))
            {
                return new Transition(TransitionOutcome.Conflict, change.Job.Status);
            }
            await act(change);
            return new Transition(TransitionOutcome.Done, change.Status);
        }, ct);
        if (result.Outcome == TransitionOutcome.Done && JobStatus.IsTerminal(result.Status!))
        {
            await _transactions.PublishStopQuietlyAsync(jobId);
        }
        return result;
    }

    /// <summary>
    /// Continues a job stopped by its budget from where it stopped: stages not completed become
    /// pending again and those whose dependencies are done are queued (the PRD keeps its notes).
    /// </summary>
    public Task<Transition> ResumeAsync(Guid jobId, string actor, CancellationToken ct) =>
        ReopenAsync("job_resume", jobId, actor, retried: null, ct);

    /// <summary>
    /// Sends a failed job's failed stage back to its queue (an operator's requeue of its dead
    /// letter): the stage starts its attempts afresh and the job continues as after a resume.
    /// Conflict unless the job failed and that stage is the one that failed.
    /// </summary>
    public Task<Transition> RetryFailedStageAsync(Guid jobId, string stage, string actor, CancellationToken ct) =>
        ReopenAsync("job_requeue", jobId, actor, retried: stage, ct);

    private async Task<Transition> ReopenAsync(string queryType, Guid jobId, string actor, string? retried, CancellationToken ct)
    {
        using var span = StartLinkedToJobTrace(queryType, await FindJobTraceAsync(jobId, ct));
        return await _transactions.ChangeAsync(queryType, jobId, work: async change =>
        {
            if (change.Job is null)
            {
                return new Transition(TransitionOutcome.NotFound);
            }
            if (change.Job.Status != JobStatus.Failed || (retried is null && change.Job.ErrorCode != BudgetExceededException.Code))
            {
                return new Transition(TransitionOutcome.Conflict, change.Job.Status);
            }
            var runs = (await change.Connection.QueryAsync<StageRunRow>(
                $"SELECT {Columns.StageRun} FROM stage_runs WHERE job_id = @jobId",
                new { jobId }, change.Transaction)).ToList();
            if (retried is not null && runs.SingleOrDefault(r => r.Stage == retried)?.Status != StageStatus.Failed)
            {
                return new Transition(TransitionOutcome.Conflict, change.Job.Status);
            }
            var completed = runs.Where(r => r.Status == StageStatus.Completed).Select(r => r.Stage).ToHashSet();
            await change.Connection.ExecuteAsync(
                """
                UPDATE stage_runs SET status = 'pending', error = NULL, completed_at = NULL,
                  attempts = CASE WHEN stage = @retried THEN 0 ELSE attempts END
                WHERE job_id = @jobId AND status <> 'completed'
                """,
                new { jobId, retried }, change.Transaction);
            change.Reopen();
            change.AddEvent(JobEventTypes.JobResumed, null, retried is null
                ? (object)new { completed_stages = completed.Count, by = actor }
                : new { completed_stages = completed.Count, by = actor, requeued_stage = retried });
            var next = completed.Contains(Pipeline.Prd) ? Pipeline.Ready(completed).Select(s => s.Name) : [Pipeline.Prd];
            foreach (var stage in next)
            {
                await change.QueueStageAsync(stage, runs.SingleOrDefault(r => r.Stage == stage)?.Notes);
            }
            return new Transition(TransitionOutcome.Done, JobStatus.Running);
        }, ct);
    }

    /// <summary>
    /// A project's budget; null removes it. Recorded, with who set it, as a budget_changed event
    /// of the project's latest job (the one its page shows). False when the project does not exist.
    /// </summary>
    public async Task<bool> UpdateBudgetAsync(Guid projectId, decimal? budgetUsd, string actor, CancellationToken ct)
    {
        // Every project has a job; job ids are UUIDv7, so the greatest is the latest.
        if (await _db.QuerySingleOrDefaultAsync<Guid?>("job_latest",
                "SELECT job_id FROM jobs WHERE project_id = @projectId ORDER BY job_id DESC LIMIT 1", new { projectId }, ct) is not { } latest)
        {
            return false;
        }
        return await _transactions.ChangeAsync("project_budget", latest, work: async change =>
        {
            var updated = await change.Connection.ExecuteAsync(
                "UPDATE projects SET budget_usd = @budgetUsd, updated_at = now() WHERE project_id = @projectId",
                new { projectId, budgetUsd }, change.Transaction) == 1;
            if (updated)
            {
                change.AddEvent(JobEventTypes.BudgetChanged, null, new { budget_usd = budgetUsd, by = actor });
            }
            return updated;
        }, ct);
    }

    /// <summary>
    /// An operator's action on a job (approve, request changes, reject, cancel, resume, requeue)
    /// arrives in its own HTTP request, hours or days after the job's creation. The action, and
    /// the stages it queues, stay in that request's trace: a trace that spanned the wait for a
    /// person would be days long, which trace backends search and keep badly. The action's span
    /// links to the job's creating request (jobs.traceparent), and so does each task it queues
    /// (TaskMessage.JobTraceParent); job.id on all of them finds the whole job. Null (no link) for
    /// a job without a stored traceparent or when nothing listens.
    /// </summary>
    private async Task<JobTrace?> FindJobTraceAsync(Guid jobId, CancellationToken ct)
    {
        Activity.Current?.SetTag("job.id", jobId);
        if (!AgentBusTracing.Source.HasListeners())
        {
            return null;
        }
        var (traceParent, projectId) = await _db.QuerySingleOrDefaultAsync<(string?, Guid)>("job_trace",
            "SELECT traceparent, project_id FROM jobs WHERE job_id = @jobId", new { jobId }, ct);
        return projectId == Guid.Empty ? null : new JobTrace(ActivityContext.TryParse(traceParent, null, out var context) ? context : null, jobId, projectId);
    }

    /// <summary>Starts the action's span below the request's (synchronously, so that it becomes the caller's current span).</summary>
    private static Activity? StartLinkedToJobTrace(string action, JobTrace? job)
    {
        if (job is null)
        {
            return null;
        }
        Activity.Current?.SetTag("project.id", job.ProjectId);
        ActivityLink[] links = job.Creation is { } creation ? [new ActivityLink(creation)] : [];
        return AgentBusTracing.Source.StartActivity(action, ActivityKind.Internal, default(ActivityContext), links: links)
            ?.SetTag("job.id", job.JobId).SetTag("project.id", job.ProjectId);
    }

    private sealed record JobTrace(ActivityContext? Creation, Guid JobId, Guid ProjectId);
}
