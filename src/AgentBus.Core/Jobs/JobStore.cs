using System.Diagnostics;
using System.Text.Json;
using AgentBus.Data;
using AgentBus.Events;
using AgentBus.Gpu;
using AgentBus.Queue;
using AgentBus.Telemetry;
using Dapper;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace AgentBus.Jobs;

/// <summary>
/// The job state machine. Every change locks the job row, writes its events and due tasks in the
/// same transaction, and after commit publishes the events and hands the tasks to Redis.
/// </summary>
public sealed partial class JobStore(Database db, Outbox outbox, JobEventBus eventBus, AgentBusMetrics metrics, JobRouter router, ILogger<JobStore> logger)
{
    private const string JobColumns = "job_id, project_id, status, stage, error_code, error_message, created_at, updated_at, started_at, completed_at";
    private const string StageColumns = "stage, agent_type, status, task_id, attempts, notes, error, queued_at, started_at, completed_at";

    // ---- Reads -------------------------------------------------------------------------------

    public Task<ProjectRow?> GetProjectAsync(Guid projectId, CancellationToken ct) =>
        db.QuerySingleOrDefaultAsync<ProjectRow>("project_get",
            "SELECT project_id, name, requirements, metadata::text AS metadata, budget_usd, created_at, updated_at FROM projects WHERE project_id = @projectId",
            new { projectId }, ct);

    public async Task<(IReadOnlyList<(ProjectRow Project, JobRow? Job)> Items, long Total)> ListProjectsAsync(int limit, int offset, CancellationToken ct) =>
        await db.RunAsync("project_list", async c =>
        {
            var total = await c.ExecuteScalarAsync<long>(new CommandDefinition("SELECT count(*) FROM projects", cancellationToken: ct));
            var rows = await c.QueryAsync<ProjectRow, JobRow, (ProjectRow, JobRow?)>(new CommandDefinition(
                $"""
                SELECT p.project_id, p.name, p.requirements, p.metadata::text AS metadata, p.budget_usd, p.created_at, p.updated_at,
                       j.{JobColumns.Replace(", ", ", j.", StringComparison.Ordinal)}
                FROM (SELECT * FROM projects ORDER BY created_at DESC, project_id LIMIT @limit OFFSET @offset) p
                LEFT JOIN LATERAL (SELECT * FROM jobs WHERE jobs.project_id = p.project_id ORDER BY created_at DESC LIMIT 1) j ON true
                ORDER BY p.created_at DESC, p.project_id
                """, new { limit, offset }, cancellationToken: ct),
                (p, j) => (p, j?.JobId == Guid.Empty ? null : j), splitOn: "job_id");
            return ((IReadOnlyList<(ProjectRow, JobRow?)>)rows.AsList(), total);
        }, ct);

    public Task<JobRow?> GetLatestJobAsync(Guid projectId, CancellationToken ct) =>
        db.QuerySingleOrDefaultAsync<JobRow>("job_get",
            $"SELECT {JobColumns} FROM jobs WHERE project_id = @projectId ORDER BY created_at DESC LIMIT 1", new { projectId }, ct);

    public Task<JobRow?> GetJobAsync(Guid jobId, CancellationToken ct) =>
        db.QuerySingleOrDefaultAsync<JobRow>("job_get", $"SELECT {JobColumns} FROM jobs WHERE job_id = @jobId", new { jobId }, ct);

    /// <summary>
    /// A job with its stages and routing: the API's hottest read, so three statements sent as one
    /// batch on one connection (one round trip).
    /// </summary>
    public Task<JobDetail?> GetJobDetailAsync(Guid jobId, CancellationToken ct) =>
        db.RunAsync("job_detail", async c =>
        {
            await using var results = await c.QueryMultipleAsync(new CommandDefinition(
                $"""
                SELECT {JobColumns} FROM jobs WHERE job_id = @jobId;
                SELECT {StageColumns} FROM stage_runs WHERE job_id = @jobId;
                {JobRouter.SelectRouting} WHERE job_id = @jobId;
                """, new { jobId }, cancellationToken: ct));
            var job = await results.ReadSingleOrDefaultAsync<JobRow>();
            var stages = (await results.ReadAsync<StageRunRow>()).AsList();
            var routing = await results.ReadSingleOrDefaultAsync<JobRouter.RoutingRow>();
            return job is null ? null : new JobDetail(job, stages, routing?.ToRouting());
        }, ct);

    public Task<IReadOnlyList<ArtifactSummary>> ListArtifactsAsync(Guid jobId, CancellationToken ct) =>
        db.QueryAsync<ArtifactSummary>("artifact_list",
            "SELECT type, version, content_type, length(content) AS size, created_at FROM artifacts WHERE job_id = @jobId ORDER BY created_at, type, version",
            new { jobId }, ct);

    /// <summary>The given version of an artifact, or its latest when <paramref name="version"/> is null.</summary>
    public Task<ArtifactRow?> GetArtifactAsync(Guid jobId, string type, int? version, CancellationToken ct) =>
        db.QuerySingleOrDefaultAsync<ArtifactRow>("artifact_get",
            """
            SELECT type, version, content, content_type, created_at FROM artifacts
            WHERE job_id = @jobId AND type = @type AND (@version::int IS NULL OR version = @version)
            ORDER BY version DESC LIMIT 1
            """, new { jobId, type, version }, ct);

    public Task<IReadOnlyList<JobEvent>> GetEventsAsync(Guid jobId, int afterSeq, CancellationToken ct) =>
        db.RunAsync<IReadOnlyList<JobEvent>>("event_list", async c =>
            (await c.QueryAsync<(Guid JobId, int Seq, string Type, string? Stage, string Data, DateTime CreatedAt)>(new CommandDefinition(
                "SELECT job_id, seq, type, stage, data::text, created_at FROM job_events WHERE job_id = @jobId AND seq > @afterSeq ORDER BY seq",
                new { jobId, afterSeq }, cancellationToken: ct)))
            .Select(r => new JobEvent(r.JobId, r.Seq, r.Type, r.Stage, JsonSerializer.Deserialize<JsonElement>(r.Data), new DateTimeOffset(r.CreatedAt, TimeSpan.Zero)))
            .ToList(), ct);

    /// <summary>The three earlier PRDs most similar to <paramref name="requirements"/>, by Postgres full-text rank (GIN index).</summary>
    public Task<IReadOnlyList<string>> SimilarPrdsAsync(Guid excludeJobId, string requirements, CancellationToken ct) =>
        db.QueryAsync<string>("prd_similar",
            """
            WITH terms AS (
              SELECT to_tsquery('simple', string_agg(quote_literal(lexeme), ' | ')) AS query
              FROM (SELECT lexeme FROM unnest(to_tsvector('english', left(@requirements, 20000)))
                    ORDER BY cardinality(positions) DESC, lexeme LIMIT 40) top_terms)
            SELECT a.content FROM artifacts a, terms
            WHERE a.search @@ terms.query AND a.job_id <> @excludeJobId
            ORDER BY ts_rank(a.search, terms.query) DESC, a.created_at DESC
            LIMIT 3
            """, new { excludeJobId, requirements }, ct);

    public async Task<long> CountActiveJobsAsync(CancellationToken ct) =>
        await db.RunAsync("job_count_active", c => c.ExecuteScalarAsync<long>(new CommandDefinition(
            "SELECT count(*) FROM jobs WHERE status IN ('queued', 'running', 'waiting_for_approval')", cancellationToken: ct)), ct);

    // ---- Creation ----------------------------------------------------------------------------

    /// <summary>
    /// Project, job, its stage runs, its routing, the first task and the job_created event: one
    /// transaction, shared with the creations that arrive while another batch commits.
    /// </summary>
    public async Task<(Guid ProjectId, Guid JobId)> CreateAsync(string name, string requirements, string metadataJson, decimal? budgetUsd, bool? requiresGpu, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        var project = new NewProject(Guid.CreateVersion7(), Guid.CreateVersion7(), name, requirements, metadataJson, budgetUsd, requiresGpu);
        await LazyInitializer.EnsureInitialized(ref _creations, () => new("job_create", p => p.JobId, CreateAllAsync)).RunAsync(project);
        metrics.JobsCreated.Add(1);
        Activity.Current?.SetTag("job.id", project.JobId).SetTag("project.id", project.ProjectId);
        return (project.ProjectId, project.JobId);
    }

    // Concurrent changes of one kind commit together (group commit); made on first use, as they
    // call this store's own methods.
    private GroupCommit<NewProject, bool>? _creations;
    private GroupCommit<(TaskMessage Task, string Consumer), StageWork?>? _begins;
    private GroupCommit<StageResult, bool>? _completions;

    private sealed record NewProject(Guid ProjectId, Guid JobId, string Name, string Requirements, string MetadataJson, decimal? BudgetUsd, bool? RequiresGpu);

    private Task<bool[]> CreateAllAsync(IReadOnlyList<(NewProject Item, Caller Caller)> calls) =>
        ChangesAsync("job_create", async (connection, transaction) =>
        {
            // One round trip; the new job rows come back, so they need no locking read.
            var projects = calls.Select(c => c.Item).ToList();
            var routings = projects.Select(p => JobRouter.Decide(p.Name, p.Requirements, p.RequiresGpu)).ToList();
            var parameters = new DynamicParameters(new
            {
                projectIds = projects.Select(p => p.ProjectId).ToArray(), names = projects.Select(p => p.Name).ToArray(),
                requirements = projects.Select(p => p.Requirements).ToArray(), metadata = projects.Select(p => p.MetadataJson).ToArray(),
                budgets = projects.Select(p => p.BudgetUsd).ToArray(), jobIds = projects.Select(p => p.JobId).ToArray(),
                traceParents = calls.Select(c => c.Caller.Span is { IdFormat: ActivityIdFormat.W3C } span ? span.Id : null).ToArray(),
                stages = Pipeline.Stages.Select(s => s.Name).ToArray(),
                agentTypes = Pipeline.Stages.Select(s => s.AgentType).ToArray(),
            });
            parameters.AddDynamicParams(JobRouter.RecordParameters(routings));
            var jobs = (await connection.QueryAsync<JobRow>(
                $"""
                {JobChange.KeyLookupPlans}
                INSERT INTO projects (project_id, name, requirements, metadata, budget_usd)
                  SELECT p.project_id, p.name, p.requirements, p.metadata::jsonb, p.budget_usd
                  FROM unnest(@projectIds, @names, @requirements, @metadata, @budgets) AS p(project_id, name, requirements, metadata, budget_usd);
                INSERT INTO jobs (job_id, project_id, status, stage, traceparent)
                  SELECT j.job_id, j.project_id, 'queued', 'prd', j.traceparent FROM unnest(@jobIds, @projectIds, @traceParents) AS j(job_id, project_id, traceparent)
                  RETURNING {JobColumns};
                INSERT INTO stage_runs (job_id, stage, agent_type, status)
                  SELECT j.job_id, s.stage, s.agent_type, 'pending' FROM unnest(@jobIds) AS j(job_id) CROSS JOIN unnest(@stages, @agentTypes) AS s(stage, agent_type);
                {JobRouter.RecordSql};
                """, parameters, transaction)).ToDictionary(j => j.JobId);
            return [.. calls.Select((c, i) => JobChange.Created(connection, transaction, router, jobs[c.Item.JobId], routings[i].RequiresGpu, c.Caller))];
        }, async changes =>
        {
            for (var i = 0; i < calls.Count; i++)
            {
                changes[i].AddEvent(JobEventTypes.JobCreated, null, new { project_id = calls[i].Item.ProjectId, name = calls[i].Item.Name });
                await changes[i].QueueStageAsync(Pipeline.Prd);
            }
            return calls.Select(_ => true).ToArray();
        }, CancellationToken.None);

    // ---- Operator actions --------------------------------------------------------------------

    public Task<Transition> ApproveAsync(Guid jobId, string? notes, CancellationToken ct) =>
        OperatorActionAsync("job_approve", jobId, [JobStatus.WaitingForApproval], async change =>
        {
            change.SetStatus(JobStatus.Running);
            change.AddEvent(JobEventTypes.JobApproved, Pipeline.Prd, new { notes });
            foreach (var next in Pipeline.Ready(new HashSet<string> { Pipeline.Prd }))
            {
                await change.QueueStageAsync(next.Name);
            }
        }, ct);

    public Task<Transition> RequestChangesAsync(Guid jobId, string notes, CancellationToken ct) =>
        OperatorActionAsync("job_request_changes", jobId, [JobStatus.WaitingForApproval], async change =>
        {
            change.SetStatus(JobStatus.Running);
            change.AddEvent(JobEventTypes.ChangesRequested, Pipeline.Prd, new { notes });
            await change.QueueStageAsync(Pipeline.Prd, notes);
        }, ct);

    public Task<Transition> RejectAsync(Guid jobId, string? reason, CancellationToken ct) =>
        OperatorActionAsync("job_reject", jobId, [JobStatus.WaitingForApproval], change =>
        {
            change.Finish(JobStatus.Rejected, JobEventTypes.JobRejected, "rejected", reason);
            return Task.CompletedTask;
        }, ct);

    public Task<Transition> CancelAsync(Guid jobId, string? reason, CancellationToken ct) =>
        OperatorActionAsync("job_cancel", jobId, JobStatus.Active, change =>
        {
            change.Finish(JobStatus.Canceled, JobEventTypes.JobCanceled, "canceled", reason);
            return Task.CompletedTask;
        }, ct);

    private async Task<Transition> OperatorActionAsync(string queryType, Guid jobId, string[] allowedFrom, Func<JobChange, Task> act, CancellationToken ct)
    {
        using var span = StartInJobTrace(queryType, await FindJobTraceAsync(jobId, ct));
        var result = await ChangeAsync(queryType, jobId, work: async change =>
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
        return result;
    }

    // ---- Worker side -------------------------------------------------------------------------

    /// <summary>
    /// Marks the task's stage running and returns its inputs, or null when the task must not run:
    /// the job ended, a newer task replaced it, or it already completed (a redelivery). Committed
    /// with the other stage starts that arrive meanwhile (group commit), so it is not canceled
    /// halfway: a caller checks its own stop after it returns.
    /// </summary>
    public Task<StageWork?> BeginStageAsync(TaskMessage task, string consumer) =>
        LazyInitializer.EnsureInitialized(ref _begins, () => new("stage_begin", b => b.Task.JobId, BeginStagesAsync)).RunAsync((task, consumer));

    /// <summary>The stage starts of a batch (distinct jobs): one transaction, a few statements for all.</summary>
    private Task<StageWork?[]> BeginStagesAsync(IReadOnlyList<((TaskMessage Task, string Consumer) Item, Caller Caller)> calls) =>
        ChangesAsync("stage_begin", [.. calls.Select(c => (c.Item.Task.JobId, (string?)c.Item.Task.Stage, (Caller?)c.Caller))], async changes =>
        {
            var tasks = calls.Select(c => c.Item.Task).ToList();
            var works = new StageWork?[tasks.Count];
            var begun = new List<int>();
            for (var i = 0; i < tasks.Count; i++)
            {
                var (task, change, run) = (tasks[i], changes[i], changes[i].Run);
                if (change.Job is null || JobStatus.IsTerminal(change.Job.Status) || run is null || run.TaskId != task.TaskId
                    || run.Status is not (StageStatus.Queued or StageStatus.Running))
                {
                    continue;
                }
                if (change.Job.Status == JobStatus.Queued)
                {
                    change.SetStatus(JobStatus.Running);
                    change.AddEvent(JobEventTypes.JobStarted, null, new { });
                }
                change.SetStage(task.Stage);
                change.AddEvent(JobEventTypes.StageStarted, task.Stage, new { attempt = run.Attempts + 1, agent_type = run.AgentType, consumer = calls[i].Item.Consumer });
                begun.Add(i);
            }
            if (begun.Count == 0)
            {
                return works;
            }

            // The stage runs' starts and the stages' inputs (and earlier versions): one round trip.
            var inputs = begun.SelectMany(i => Pipeline.ByName[tasks[i].Stage].Inputs.Append(tasks[i].Stage).Select(type => (tasks[i].JobId, Type: type))).ToList();
            await using var reads = await changes[0].Connection.QueryMultipleAsync(
                """
                UPDATE stage_runs r SET status = 'running', attempts = r.attempts + 1, started_at = now(), error = NULL
                FROM unnest(@jobIds, @stages) AS t(job_id, stage) WHERE r.job_id = ANY(@jobIds) AND r.job_id = t.job_id AND r.stage = t.stage;
                SELECT project_id, name, requirements, metadata::text AS metadata, budget_usd, created_at, updated_at FROM projects WHERE project_id = ANY(@projectIds);
                SELECT DISTINCT ON (a.job_id, a.type) a.job_id, a.type, a.version, a.content, a.content_type, a.created_at
                FROM artifacts a JOIN unnest(@inputJobIds, @inputTypes) AS t(job_id, type) ON a.job_id = t.job_id AND a.type = t.type
                WHERE a.job_id = ANY(@inputJobIds)
                ORDER BY a.job_id, a.type, a.version DESC;
                """,
                new
                {
                    jobIds = begun.Select(i => tasks[i].JobId).ToArray(), stages = begun.Select(i => tasks[i].Stage).ToArray(),
                    projectIds = begun.Select(i => changes[i].Job!.ProjectId).Distinct().ToArray(),
                    inputJobIds = inputs.Select(x => x.JobId).ToArray(), inputTypes = inputs.Select(x => x.Type).ToArray(),
                }, changes[0].Transaction);
            var projects = (await reads.ReadAsync<ProjectRow>()).ToDictionary(p => p.ProjectId);
            var artifacts = (await reads.ReadAsync<ArtifactRow>()).ToLookup(a => a.JobId);
            foreach (var i in begun)
            {
                var (task, job, run) = (tasks[i], changes[i].Job!, changes[i].Run!);
                var definition = Pipeline.ByName[task.Stage];
                var stageInputs = artifacts[task.JobId].ToDictionary(a => a.Type);
                stageInputs.Remove(definition.Name, out var previous);
                works[i] = new StageWork(job, projects[job.ProjectId], definition, run.Attempts + 1, run.Notes, stageInputs, previous);
            }
            return works;
        }, CancellationToken.None, durable: false);

    /// <summary>
    /// Commits the stage's artifact, then moves the job on: approval after the PRD, the next
    /// stages whose dependencies are all done, completion after delivery. A redelivered task that
    /// already completed changes nothing. Returns false when the result was discarded. Committed
    /// with the other results that arrive meanwhile (group commit).
    /// </summary>
    public Task<bool> CompleteStageAsync(TaskMessage task, string content) =>
        LazyInitializer.EnsureInitialized(ref _completions, () => new("stage_complete", r => r.Task.JobId, CompleteStagesAsync))
            .RunAsync(new StageResult(task, content));

    /// <summary>The results of a batch (distinct jobs): one transaction, a few statements for all.</summary>
    private Task<bool[]> CompleteStagesAsync(IReadOnlyList<(StageResult Item, Caller Caller)> calls) =>
        ChangesAsync("stage_complete", [.. calls.Select(c => (c.Item.Task.JobId, (string?)c.Item.Task.Stage, (Caller?)c.Caller))], async changes =>
        {
            var results = calls.Select(c => c.Item).ToList();
            var committed = new bool[results.Count];
            var valid = Enumerable.Range(0, results.Count).Where(i =>
                changes[i] is { Job: { } job, Run: { } run } && !JobStatus.IsTerminal(job.Status)
                && run.TaskId == results[i].Task.TaskId && run.Status == StageStatus.Running).ToList();
            if (valid.Count == 0)
            {
                return committed;
            }
            // A stage between the PRD and delivery moves its job on to the stages it unblocks: the
            // stage runs are read in the same round trip, after the stages' completions.
            static bool MovesOn(string stage) => stage != Pipeline.Prd && stage != Pipeline.Stages[^1].Name;
            var movingOn = valid.Where(i => MovesOn(results[i].Task.Stage)).Select(i => results[i].Task.JobId).ToArray();
            Dictionary<Guid, int> versions;
            ILookup<Guid, (Guid JobId, string Stage, string Status)> progress;
            await using (var reads = await changes[0].Connection.QueryMultipleAsync(
                movingOn.Length > 0 ? CompleteStagesAndReadProgressSql : CompleteStagesSql,
                new
                {
                    jobIds = valid.Select(i => results[i].Task.JobId).ToArray(), stages = valid.Select(i => results[i].Task.Stage).ToArray(),
                    taskIds = valid.Select(i => results[i].Task.TaskId).ToArray(), contents = valid.Select(i => results[i].Content).ToArray(),
                    contentTypes = valid.Select(i => Pipeline.ByName[results[i].Task.Stage].ContentType).ToArray(), movingOn,
                }, changes[0].Transaction))
            {
                versions = (await reads.ReadAsync<(Guid JobId, int Version)>()).ToDictionary(v => v.JobId, v => v.Version);
                progress = movingOn.Length > 0 ? (await reads.ReadAsync<(Guid JobId, string Stage, string Status)>()).ToLookup(s => s.JobId) : EmptyProgress;
            }

            foreach (var i in valid)
            {
                var (task, change) = (results[i].Task, changes[i]);
                if (!versions.TryGetValue(task.JobId, out var version))
                {
                    continue;
                }
                committed[i] = true;
                change.AddEvent(JobEventTypes.StageCompleted, task.Stage, new { version, agent_type = Pipeline.ByName[task.Stage].AgentType });
                if (task.Stage == Pipeline.Prd)
                {
                    change.SetStatus(JobStatus.WaitingForApproval);
                    change.AddEvent(JobEventTypes.ApprovalRequested, Pipeline.Prd, new { prd_version = version });
                    continue;
                }
                if (!MovesOn(task.Stage))
                {
                    change.Finish(JobStatus.Completed, JobEventTypes.JobCompleted, null, null);
                    continue;
                }
                var stages = progress[task.JobId].ToList();
                var completed = stages.Where(s => s.Status == StageStatus.Completed).Select(s => s.Stage).ToHashSet();
                var pending = stages.Where(s => s.Status == StageStatus.Pending).Select(s => s.Stage).ToHashSet();
                foreach (var next in Pipeline.Ready(completed).Where(s => pending.Contains(s.Name)))
                {
                    await change.QueueStageAsync(next.Name);
                }
            }
            return committed;
        }, CancellationToken.None);

    private static readonly ILookup<Guid, (Guid, string, string)> EmptyProgress = Array.Empty<(Guid, string, string)>().ToLookup(s => s.Item1);

    // A stage completes only when its task's artifact was new (a redelivery inserts nothing).
    private const string CompleteStagesSql =
        """
        WITH done AS (
          SELECT * FROM unnest(@jobIds, @stages, @taskIds, @contents, @contentTypes) AS d(job_id, stage, task_id, content, content_type)),
        artifact AS (
          INSERT INTO artifacts (job_id, type, version, task_id, content, content_type)
          SELECT d.job_id, d.stage, coalesce((SELECT max(a.version) FROM artifacts a WHERE a.job_id = d.job_id AND a.type = d.stage), 0) + 1,
                 d.task_id, d.content, d.content_type
          FROM done d
          ON CONFLICT (task_id) DO NOTHING
          RETURNING job_id, type, version),
        stage AS (
          UPDATE stage_runs r SET status = 'completed', completed_at = now() FROM artifact a
          WHERE r.job_id = ANY(@jobIds) AND r.job_id = a.job_id AND r.stage = a.type)
        SELECT job_id, version FROM artifact
        """;

    private const string CompleteStagesAndReadProgressSql =
        CompleteStagesSql + ";\nSELECT job_id, stage, status FROM stage_runs WHERE job_id = ANY(@movingOn) AND status IN ('completed', 'pending')";

    /// <summary>Records a failed attempt. With <paramref name="final"/> the stage and the job fail with the error.</summary>
    public Task<bool> FailAttemptAsync(TaskMessage task, string errorCode, string error, bool final, CancellationToken ct) =>
        ChangeAsync("stage_fail", task.JobId, work: async change =>
        {
            var run = change.Run;
            if (change.Job is null || JobStatus.IsTerminal(change.Job.Status) || run?.TaskId != task.TaskId)
            {
                return false;
            }
            await change.Connection.ExecuteAsync(
                "UPDATE stage_runs SET status = @status, error = @error, completed_at = CASE WHEN @final THEN now() END WHERE job_id = @JobId AND stage = @Stage",
                new { task.JobId, task.Stage, error, final, status = final ? StageStatus.Failed : StageStatus.Queued }, change.Transaction);
            if (!final)
            {
                change.AddEvent(JobEventTypes.StageRetry, task.Stage, new { attempt = run.Attempts, error_code = errorCode, error });
                return true;
            }
            change.AddEvent(JobEventTypes.StageFailed, task.Stage, new { attempt = run.Attempts, error_code = errorCode, error });
            change.Finish(JobStatus.Failed, JobEventTypes.JobFailed, errorCode, $"{task.Stage}: {error}");
            return true;
        }, ct, stage: task.Stage);

    /// <summary>
    /// The next call could pass the project's budget: the stage and the job stop with
    /// budget_exceeded, to be resumed once the budget is raised.
    /// </summary>
    public Task<bool> StopForBudgetAsync(TaskMessage task, string message, CancellationToken ct) =>
        ChangeAsync("stage_budget_stop", task.JobId, work: async change =>
        {
            var run = change.Run;
            if (change.Job is null || JobStatus.IsTerminal(change.Job.Status) || run?.TaskId != task.TaskId)
            {
                return false;
            }
            await change.Connection.ExecuteAsync(
                "UPDATE stage_runs SET status = 'failed', error = @error, completed_at = now() WHERE job_id = @JobId AND stage = @Stage",
                new { task.JobId, task.Stage, error = $"budget_exceeded: {message}" }, change.Transaction);
            change.AddEvent(JobEventTypes.StageFailed, task.Stage, new { attempt = run.Attempts, error_code = BudgetExceeded, error = message });
            change.Finish(JobStatus.Failed, JobEventTypes.JobFailed, BudgetExceeded, $"{task.Stage}: {message}");
            return true;
        }, ct, stage: task.Stage);

    public const string BudgetExceeded = "budget_exceeded";

    /// <summary>
    /// Continues a job stopped by its budget from where it stopped: stages not completed become
    /// pending again and those whose dependencies are done are queued (the PRD keeps its notes).
    /// </summary>
    public async Task<Transition> ResumeAsync(Guid jobId, CancellationToken ct)
    {
        using var span = StartInJobTrace("job_resume", await FindJobTraceAsync(jobId, ct));
        return await ChangeAsync("job_resume", jobId, work: async change =>
        {
            if (change.Job is null)
            {
                return new Transition(TransitionOutcome.NotFound);
            }
            if (change.Job.Status != JobStatus.Failed || change.Job.ErrorCode != BudgetExceeded)
            {
                return new Transition(TransitionOutcome.Conflict, change.Job.Status);
            }
            var runs = (await change.Connection.QueryAsync<StageRunRow>(
                "SELECT stage, agent_type, status, task_id, attempts, notes, error, queued_at, started_at, completed_at FROM stage_runs WHERE job_id = @jobId",
                new { jobId }, change.Transaction)).ToList();
            var completed = runs.Where(r => r.Status == StageStatus.Completed).Select(r => r.Stage).ToHashSet();
            await change.Connection.ExecuteAsync(
                "UPDATE stage_runs SET status = 'pending', error = NULL, completed_at = NULL WHERE job_id = @jobId AND status <> 'completed'",
                new { jobId }, change.Transaction);
            change.Reopen();
            change.AddEvent(JobEventTypes.JobResumed, null, new { completed_stages = completed.Count });
            var next = completed.Contains(Pipeline.Prd) ? Pipeline.Ready(completed).Select(s => s.Name) : [Pipeline.Prd];
            foreach (var stage in next)
            {
                await change.QueueStageAsync(stage, runs.Single(r => r.Stage == stage).Notes);
            }
            return new Transition(TransitionOutcome.Done, JobStatus.Running);
        }, ct);
    }

    /// <summary>A project's budget; null removes it. False when the project does not exist.</summary>
    public async Task<bool> UpdateBudgetAsync(Guid projectId, decimal? budgetUsd, CancellationToken ct) =>
        await db.ExecuteAsync("project_budget",
            "UPDATE projects SET budget_usd = @budgetUsd, updated_at = now() WHERE project_id = @projectId", new { projectId, budgetUsd }, ct) == 1;

    /// <summary>What a project's priced calls have cost so far (the budget check's left side).</summary>
    public async Task<decimal> ProjectSpendAsync(Guid projectId, CancellationToken ct) =>
        await db.RunAsync("project_spend", c => c.ExecuteScalarAsync<decimal>(new CommandDefinition(
            "SELECT coalesce(sum(cost_usd), 0) FROM llm_calls WHERE project_id = @projectId", new { projectId }, cancellationToken: ct)), ct);

    public Task RecordLlmCallAsync(StageWork work, Guid taskId, LlmCallRecord call, CancellationToken ct) =>
        db.ExecuteAsync("llm_call_insert",
            """
            INSERT INTO llm_calls (job_id, project_id, task_id, stage, agent_type, provider, model, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, latency_ms, cost_usd)
            VALUES (@JobId, @ProjectId, @taskId, @Stage, @AgentType, @Provider, @Model, @InputTokens, @OutputTokens, @CacheReadTokens, @CacheWriteTokens, @LatencyMs, @CostUsd)
            """,
            new
            {
                work.Job.JobId, work.Project.ProjectId, taskId, Stage = work.Stage.Name, call.AgentType, call.Provider, call.Model,
                call.InputTokens, call.OutputTokens, call.CacheReadTokens, call.CacheWriteTokens, call.LatencyMs, call.CostUsd,
            }, ct);

    /// <summary>Totals over a job's or a project's calls: overall, by agent type, and by provider and model.</summary>
    public Task<(UsageTotals Total, IReadOnlyList<UsageTotals> ByAgent, IReadOnlyList<UsageTotals> ByModel)> UsageAsync(Guid? jobId, Guid? projectId, CancellationToken ct) =>
        db.RunAsync("usage", async c =>
        {
            var rows = (await c.QueryAsync<UsageTotals>(new CommandDefinition(
                """
                SELECT agent_type, provider, model, count(*) AS calls,
                       sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
                       sum(cache_read_tokens) AS cache_read_tokens, sum(cache_write_tokens) AS cache_write_tokens,
                       count(*) FILTER (WHERE cost_usd IS NULL) AS unpriced_calls, coalesce(sum(cost_usd), 0) AS known_cost_usd
                FROM llm_calls WHERE (@jobId::uuid IS NULL OR job_id = @jobId) AND (@projectId::uuid IS NULL OR project_id = @projectId)
                GROUP BY agent_type, provider, model ORDER BY agent_type, provider, model
                """, new { jobId, projectId }, cancellationToken: ct))).ToList();
            static UsageTotals Sum(IEnumerable<UsageTotals> g, string? agent = null, string? provider = null, string? model = null) => new()
            {
                AgentType = agent, Provider = provider, Model = model,
                Calls = g.Sum(r => r.Calls), InputTokens = g.Sum(r => r.InputTokens), OutputTokens = g.Sum(r => r.OutputTokens),
                CacheReadTokens = g.Sum(r => r.CacheReadTokens), CacheWriteTokens = g.Sum(r => r.CacheWriteTokens),
                UnpricedCalls = g.Sum(r => r.UnpricedCalls), KnownCostUsd = g.Sum(r => r.KnownCostUsd),
            };
            return (Sum(rows),
                (IReadOnlyList<UsageTotals>)rows.GroupBy(r => r.AgentType).Select(g => Sum(g, agent: g.Key)).ToList(),
                (IReadOnlyList<UsageTotals>)rows.GroupBy(r => (r.Provider, r.Model)).Select(g => Sum(g, provider: g.Key.Provider, model: g.Key.Model)).ToList());
        }, ct);

    /// <summary>A task handed back on shutdown goes back to queued, keeping its attempt count.</summary>
    public Task RequeueAsync(TaskMessage task, CancellationToken ct) =>
        db.ExecuteAsync("stage_requeue",
            "UPDATE stage_runs SET status = 'queued' WHERE job_id = @JobId AND stage = @Stage AND task_id = @TaskId AND status = 'running'",
            new { task.JobId, task.Stage, task.TaskId }, ct);

    // ---- Tracing -----------------------------------------------------------------------------

    /// <summary>
    /// An operator's action on a job (approve, request changes, reject, cancel, resume) arrives in
    /// its own HTTP request, hence its own trace. So that a submitted project stays one trace, the
    /// action runs in a span whose parent is the job's creating request (jobs.traceparent) and
    /// which links to the operator's request; what it queues hangs below it. The request span gets
    /// job.id and project.id, so either trace leads to the other. Null (the action stays in the
    /// request's trace) for a job without a stored traceparent or when nothing listens.
    /// </summary>
    private async Task<JobTrace?> FindJobTraceAsync(Guid jobId, CancellationToken ct)
    {
        Activity.Current?.SetTag("job.id", jobId);
        if (!AgentBusTracing.Source.HasListeners())
        {
            return null;
        }
        var (traceParent, projectId) = await db.QuerySingleOrDefaultAsync<(string?, Guid)>("job_trace",
            "SELECT traceparent, project_id FROM jobs WHERE job_id = @jobId", new { jobId }, ct);
        return ActivityContext.TryParse(traceParent, null, out var context) ? new JobTrace(context, jobId, projectId) : null;
    }

    /// <summary>Starts the action's span in the job's trace (synchronously, so that it becomes the caller's current span).</summary>
    private static Activity? StartInJobTrace(string action, JobTrace? job)
    {
        var request = Activity.Current;
        if (job is null || job.Context.TraceId == request?.TraceId)
        {
            return null;
        }
        request?.SetTag("project.id", job.ProjectId);
        ActivityLink[] links = request is null ? [] : [new ActivityLink(request.Context)];
        return AgentBusTracing.Source.StartActivity(action, ActivityKind.Internal, job.Context, links: links)
            ?.SetTag("job.id", job.JobId).SetTag("project.id", job.ProjectId);
    }

    private sealed record JobTrace(ActivityContext Context, Guid JobId, Guid ProjectId);

    // ---- The transaction every change goes through -------------------------------------------

    /// <summary>
    /// Runs <paramref name="work"/> on the locked job (with <paramref name="stage"/>'s run read in the
    /// same round trip when given).
    /// </summary>
    private Task<T> ChangeAsync<T>(string queryType, Guid jobId, Func<JobChange, Task<T>> work, CancellationToken ct, string? stage = null) =>
        ChangesAsync(queryType, [(jobId, stage, null)], changes => work(changes[0]), ct);

    /// <summary>
    /// Runs <paramref name="work"/> on the locked jobs of <paramref name="targets"/> (distinct jobs,
    /// locked in id order, so that two such transactions never deadlock), one change per target in
    /// the same order. A change that is not <paramref name="durable"/> commits without waiting for
    /// the WAL flush: only for changes a Postgres crash may undo because the tasks that made them
    /// are still unacknowledged in Redis and run again (see stage_begin).
    /// </summary>
    private Task<T> ChangesAsync<T>(string queryType, IReadOnlyList<(Guid JobId, string? Stage, Caller? Caller)> targets, Func<IReadOnlyList<JobChange>, Task<T>> work,
        CancellationToken ct, bool durable = true) =>
        ChangesAsync(queryType, (connection, transaction) => JobChange.LockAsync(connection, transaction, router, targets, durable), work, ct);

    /// <summary>
    /// The transaction every change goes through: <paramref name="open"/> locks (or creates) the
    /// jobs, <paramref name="work"/> changes them, their rows, events and tasks are written, and
    /// after the commit the events are logged and published and the tasks handed to Redis. A
    /// change's caller, when it has one, is where its log lines are written and the parent of the
    /// spans of the tasks it queues (a batch runs outside its callers).
    /// </summary>
    private async Task<T> ChangesAsync<T>(string queryType, Func<NpgsqlConnection, NpgsqlTransaction, Task<IReadOnlyList<JobChange>>> open,
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

    /// <summary>
    /// The open transaction's change to one job, with what it queued and emitted; a transaction
    /// may change several jobs (one change each). Reads and conditional writes run at once; the
    /// jobs' new states, their events and the tasks they queue are kept and written by
    /// <see cref="WriteAsync"/> in one statement just before the commit: one version of each job
    /// row per transaction, one round trip for all of them.
    /// </summary>
    private sealed class JobChange(NpgsqlConnection connection, NpgsqlTransaction transaction, JobRouter router)
    {
        public NpgsqlConnection Connection { get; } = connection;
        public NpgsqlTransaction Transaction { get; } = transaction;
        public JobRow? Job { get; private set; }
        public string? Status { get; private set; }

        /// <summary>The events this change wrote, complete once <see cref="WriteAsync"/> ran.</summary>
        public List<JobEvent> Events { get; } = [];

        // jobs.event_seq as locked (0 for a job this change created), and the events not yet written.
        private int _eventSeq;
        private readonly List<(int Seq, string Type, string? Stage, string Json)> _pendingEvents = [];
        private readonly List<(TaskMessage Task, string? Notes, string Queue)> _queued = [];
        private bool _requiresGpu;
        // The job row's new values; null leaves a column as it is. _ended: true finishes the job
        // (error columns and completed_at set, open stages canceled), false reopens it (cleared).
        private string? _newStatus, _newStage, _errorCode, _errorMessage;
        private bool? _ended;

        public (string Status, TimeSpan Duration)? Finished { get; private set; }

        public StageRunRow? Run { get; private set; }

        /// <summary>Who asked for this change when it is part of a batch.</summary>
        public Caller? Caller { get; private init; }

        /// <summary>A job this transaction created: nobody else can see it before the commit.</summary>
        public static JobChange Created(NpgsqlConnection connection, NpgsqlTransaction transaction, JobRouter router, JobRow job, bool requiresGpu, Caller? caller) =>
            new(connection, transaction, router) { Job = job, Status = job.Status, _requiresGpu = requiresGpu, Caller = caller };

        /// <summary>
        /// Sent first in a change's first batch. Every statement of a change finds its rows by
        /// key, so one plan per statement serves all parameters; left to decide, Postgres plans
        /// the unnest() statements anew on every execution (an array parameter's length changes
        /// the estimate), which took a fifth of its CPU under POST load. A generic plan is kept
        /// for the connection's life, and one made while the tables were small scans them whole
        /// (measured: every job creation scanned jobs, before any autoanalyze), so these
        /// statements must use their indexes whatever the tables' size at planning; those that
        /// join a table to unnest() also filter it by `= ANY(ids)`, the index's own condition.
        /// </summary>
        public const string KeyLookupPlans = "SET LOCAL plan_cache_mode TO force_generic_plan;\nSET LOCAL enable_seqscan TO off;\n";

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
            await using var results = await connection.QueryMultipleAsync(
                KeyLookupPlans + (durable ? "" : Database.AsyncCommit)
                + $"SELECT {JobColumns} FROM jobs WHERE job_id = ANY(@jobIds) ORDER BY job_id FOR UPDATE;\n"
                + "SELECT j.job_id, j.event_seq, coalesce(r.requires_gpu, false) FROM jobs j LEFT JOIN job_routing r USING (job_id) WHERE j.job_id = ANY(@jobIds);\n"
                + (withStage.Count == 0 ? "" :
                    $"SELECT s.job_id, {StageColumns.Replace("stage, ", "s.stage, ", StringComparison.Ordinal)} FROM stage_runs s "
                    + "JOIN unnest(@runJobIds, @runStages) AS t(job_id, stage) ON s.job_id = t.job_id AND s.stage = t.stage WHERE s.job_id = ANY(@runJobIds);"),
                new
                {
                    jobIds = targets.Select(t => t.JobId).ToArray(),
                    runJobIds = withStage.Select(t => t.JobId).ToArray(), runStages = withStage.Select(t => t.Stage).ToArray(),
                }, transaction);
            var jobs = (await results.ReadAsync<JobRow>()).ToDictionary(j => j.JobId);
            var seqs = (await results.ReadAsync<(Guid JobId, int EventSeq, bool RequiresGpu)>()).ToDictionary(r => r.JobId);
            var runs = withStage.Count == 0 ? [] : (await results.ReadAsync<StageRunRow>()).ToDictionary(r => r.JobId);
            return [.. targets.Select(t =>
            {
                var change = new JobChange(connection, transaction, router) { Job = jobs.GetValueOrDefault(t.JobId), Caller = t.Caller };
                change.Status = change.Job?.Status;
                (_, change._eventSeq, change._requiresGpu) = seqs.GetValueOrDefault(t.JobId);
                change.Run = t.Stage is null ? null : runs.GetValueOrDefault(t.JobId);
                return change;
            })];
        }

        /// <summary>The job's new status (running also sets started_at the first time).</summary>
        public void SetStatus(string status) => Status = _newStatus = status;

        /// <summary>The stage the job is at, as GET /api/jobs/{id} shows it.</summary>
        public void SetStage(string stage) => _newStage = stage;

        /// <summary>The job ends: its stages still pending, queued or running are canceled with the write.</summary>
        public void Finish(string status, string eventType, string? errorCode, string? message)
        {
            SetStatus(status);
            (_ended, _errorCode, _errorMessage) = (true, errorCode, message);
            Finished = (status, DateTime.UtcNow - Job!.CreatedAt);
            AddEvent(eventType, null, new { status, error_code = errorCode, message });
        }

        /// <summary>A finished job runs again: its error and completion time are cleared.</summary>
        public void Reopen()
        {
            SetStatus(JobStatus.Running);
            (_ended, _errorCode, _errorMessage) = (false, null, null);
        }

        public async Task QueueStageAsync(string stage, string? notes = null)
        {
            // The producer span of the task; its context travels in the message (traceparent) and
            // becomes the parent of the worker's "consume {stage}" span. Its parent is the caller's
            // span: the current one, or for a batched change the span of the task that asked.
            using var enqueue = AgentBusTracing.Source.StartActivity($"enqueue {stage}", ActivityKind.Producer, Caller?.SpanContext ?? default);
            enqueue?.SetTag("job.id", Job!.JobId).SetTag("project.id", Job.ProjectId).SetTag("stage", stage)
                .SetTag("messaging.system", "redis").SetTag("messaging.operation.type", "create");
            var task = new TaskMessage(Guid.CreateVersion7(), Job!.JobId, Job.ProjectId, stage, enqueue?.Id ?? (Caller is null ? Activity.Current : Caller.Span)?.Id);
            var queue = await router.QueueForAsync(Connection, Transaction, Job.JobId, stage, _requiresGpu);
            enqueue?.SetTag("messaging.destination.name", queue);
            _queued.Add((task, notes, queue));
            AddEvent(JobEventTypes.StageQueued, stage, new { task_id = task.TaskId, queue });
        }

        /// <summary>
        /// Takes the job's next event number. The job's row is locked (or created) by this
        /// transaction, so the numbers stay gap-free.
        /// </summary>
        public void AddEvent(string type, string? stage, object data) =>
            _pendingEvents.Add((++_eventSeq, type, stage, JsonSerializer.Serialize(data)));

        private bool HasWrites => _pendingEvents.Count > 0 || _newStatus is not null || _newStage is not null || _queued.Count > 0;

        private const string WriteJobsAndEvents =
            """
            WITH job AS (
              UPDATE jobs j SET event_seq = w.last, updated_at = now(),
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

        // The queued stages and their tasks (the outbox rows).
        private const string WriteQueuedStages =
            $"""
            ,
            queued AS (
              UPDATE stage_runs r SET status = 'queued', task_id = q.task_id, notes = q.notes, queued_at = now(), completed_at = NULL, error = NULL
              FROM unnest(@outboxJobIds, @queuedStages, @outboxTaskIds, @queuedNotes) AS q(job_id, stage, task_id, notes)
              WHERE r.job_id = ANY(@outboxJobIds) AND r.job_id = q.job_id AND r.stage = q.stage),
            outbox AS ({Outbox.AddSql})
            """;

        /// <summary>
        /// The job rows, the events and the queued tasks of the changes: one statement. Returns the
        /// outbox rows of the queued tasks.
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
            var parameters = new DynamicParameters(new
            {
                jobIds = writes.Select(c => c.Job!.JobId).ToArray(), lasts = writes.Select(c => c._eventSeq).ToArray(),
                statuses = writes.Select(c => c._newStatus).ToArray(), jobStages = writes.Select(c => c._newStage).ToArray(),
                endeds = writes.Select(c => c._ended).ToArray(),
                errorCodes = writes.Select(c => c._errorCode).ToArray(), errorMessages = writes.Select(c => c._errorMessage).ToArray(),
                eventJobIds = events.Select(e => e.JobId).ToArray(), seqs = events.Select(e => e.e.Seq).ToArray(),
                types = events.Select(e => e.e.Type).ToArray(), stages = events.Select(e => e.e.Stage).ToArray(), data = events.Select(e => e.e.Json).ToArray(),
                endedJobIds = ended,
            });
            if (queued.Count > 0)
            {
                parameters.AddDynamicParams(new { queuedStages = queued.Select(q => q.Task.Stage).ToArray(), queuedNotes = queued.Select(q => q.Notes).ToArray() });
                parameters.AddDynamicParams(Outbox.AddParameters(queued.Select(q => (q.Queue, q.Task))));
            }
            var sql = WriteJobsAndEvents + (ended.Length > 0 ? WriteCanceledStages : "") + (queued.Count > 0 ? WriteQueuedStages : "")
                + (queued.Count > 0 ? "\nSELECT now(), (SELECT array_agg(id) FROM outbox)" : "\nSELECT now(), NULL::bigint[]");
            // now() is the transaction's start: the created_at of every event below.
            var first = writes[0];
            var (createdAt, outboxIds) = await first.Connection.QuerySingleAsync<(DateTime, long[]?)>(sql, parameters, first.Transaction);
            foreach (var change in writes)
            {
                foreach (var e in change._pendingEvents)
                {
                    change.Events.Add(new JobEvent(change.Job!.JobId, e.Seq, e.Type, e.Stage, JsonSerializer.Deserialize<JsonElement>(e.Json), new DateTimeOffset(createdAt, TimeSpan.Zero)));
                }
                change._pendingEvents.Clear();
            }
            return outboxIds ?? [];
        }
    }
}
