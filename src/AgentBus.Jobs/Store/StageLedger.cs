using AgentBus.Data;
using AgentBus.Events;
using AgentBus.Jobs;
using AgentBus.Queue;
using AgentBus.Spend;
using Dapper;

namespace AgentBus.Store;

/// <summary>
/// A stage's life as the consumers that run it record it: begun (with its inputs), completed
/// (its artifact, and the job moved on), a failed attempt, a budget stop, handed back. Starts and
/// results that arrive together commit together (group commit).
/// </summary>
public sealed class StageLedger
{
    private readonly Database _db;
    private readonly JobTransactions _transactions;
    private readonly GroupCommit<StageBegin, StageStart> _begins;
    private readonly GroupCommit<StageResult, bool> _completions;

    internal StageLedger(Database db, JobTransactions transactions)
    {
        (_db, _transactions) = (db, transactions);
        _begins = new("stage_begin", b => b.Task.JobId, BeginStagesAsync);
        _completions = new("stage_complete", r => r.Task.JobId, CompleteStagesAsync);
    }

    /// <summary>
    /// Marks the task's stage running under a new attempt and returns its inputs; or nothing to
    /// run: the job ended, a newer task replaced it, or it already completed (a redelivery); or
    /// the attempt running now holds another queue entry (<see cref="StageStart.HeldBy"/>): this
    /// delivery is a second copy of the task, and runs only if the caller finds that entry gone and
    /// asks again with <paramref name="takeOver"/>. <paramref name="lease"/> names this delivery
    /// ("queue/entry id"). Committed with the other stage starts that arrive meanwhile (group
    /// commit), so it is not canceled halfway: a caller checks its own stop after it returns.
    /// </summary>
    public Task<StageStart> BeginStageAsync(TaskMessage task, string consumer, string lease, bool takeOver = false) =>
        _begins.RunAsync(new StageBegin(task, consumer, lease, takeOver));

    /// <summary>The stage starts of a batch (distinct jobs): one transaction, a few statements for all.</summary>
    private Task<StageStart[]> BeginStagesAsync(IReadOnlyList<(StageBegin Item, Caller Caller)> calls) =>
        _transactions.ChangesAsync("stage_begin", [.. calls.Select(c => (c.Item.Task.JobId, (string?)c.Item.Task.Stage, (Caller?)c.Caller))], async changes =>
        {
            var tasks = calls.Select(c => c.Item.Task).ToList();
            var works = Enumerable.Repeat(StageStart.Nothing, tasks.Count).ToArray();
            var begun = new List<int>();
            for (var i = 0; i < tasks.Count; i++)
            {
                var (task, change, run) = (tasks[i], changes[i], changes[i].Run);
                if (change.Job is null || JobStatus.IsTerminal(change.Job.Status) || run is null || run.TaskId != task.TaskId
                    || run.Status is not (StageStatus.Queued or StageStatus.Running))
                {
                    continue;
                }
                if (run.Status == StageStatus.Running && run.LeaseEntry is { } held && held != calls[i].Item.Lease && !calls[i].Item.TakeOver)
                {
                    works[i] = new StageStart(null, held);
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
                $"""
                UPDATE stage_runs r SET status = 'running', attempts = r.attempts + 1, started_at = now(), error = NULL, lease_entry = t.lease
                FROM unnest(@jobIds, @stages, @leases) AS t(job_id, stage, lease) WHERE r.job_id = ANY(@jobIds) AND r.job_id = t.job_id AND r.stage = t.stage;
                SELECT {Columns.Project} FROM projects WHERE project_id = ANY(@projectIds);
                SELECT DISTINCT ON (a.job_id, a.type) a.job_id, a.type, a.version, a.content, a.content_type, a.created_at
                FROM artifacts a JOIN unnest(@inputJobIds, @inputTypes) AS t(job_id, type) ON a.job_id = t.job_id AND a.type = t.type
                WHERE a.job_id = ANY(@inputJobIds)
                ORDER BY a.job_id, a.type, a.version DESC;
                """,
                new
                {
                    jobIds = begun.Select(i => tasks[i].JobId).ToArray(), stages = begun.Select(i => tasks[i].Stage).ToArray(),
                    leases = begun.Select(i => calls[i].Item.Lease).ToArray(),
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
                works[i] = new StageStart(new StageWork(job, projects[job.ProjectId], definition, run.Attempts + 1, run.Notes, stageInputs, previous), null);
            }
            return works;
        }, CancellationToken.None, durable: false);

    /// <summary>
    /// Commits the stage's artifact (only from the attempt running now: a consumer whose attempt
    /// was superseded records nothing), then moves the job on: approval after the PRD, the next
    /// stages whose dependencies are all done, completion after delivery. A redelivered task that
    /// already completed changes nothing. Returns false when the result was discarded. Committed
    /// with the other results that arrive meanwhile (group commit).
    /// </summary>
    public Task<bool> CompleteStageAsync(TaskMessage task, int attempt, StageOutput output) =>
        _completions.RunAsync(new StageResult(task, attempt, output));

    /// <summary>The results of a batch (distinct jobs): one transaction, a few statements for all.</summary>
    private Task<bool[]> CompleteStagesAsync(IReadOnlyList<(StageResult Item, Caller Caller)> calls) =>
        _transactions.ChangesAsync("stage_complete", [.. calls.Select(c => (c.Item.Task.JobId, (string?)c.Item.Task.Stage, (Caller?)c.Caller))], async changes =>
        {
            var results = calls.Select(c => c.Item).ToList();
            var committed = new bool[results.Count];
            var valid = Enumerable.Range(0, results.Count).Where(i =>
                changes[i] is { Job: { } job, Run: { } run } && !JobStatus.IsTerminal(job.Status)
                && run.TaskId == results[i].Task.TaskId && run.Status == StageStatus.Running && run.Attempts == results[i].Attempt).ToList();
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
                    taskIds = valid.Select(i => results[i].Task.TaskId).ToArray(), contents = valid.Select(i => results[i].Output.Content).ToArray(),
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
                foreach (var note in results[i].Output.Notes)
                {
                    change.AddEvent(note.Type, task.Stage, note.Payload);
                }
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
                // A stage without a row was never queued: pending, like one reset to pending by a resume.
                var stages = progress[task.JobId].ToList();
                var completed = stages.Where(s => s.Status == StageStatus.Completed).Select(s => s.Stage).ToHashSet();
                var underway = stages.Where(s => s.Status != StageStatus.Pending).Select(s => s.Stage).ToHashSet();
                foreach (var next in Pipeline.Ready(completed).Where(s => !underway.Contains(s.Name)))
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
        CompleteStagesSql + ";\nSELECT job_id, stage, status FROM stage_runs WHERE job_id = ANY(@movingOn)";

    /// <summary>
    /// Records a failed attempt (the one running now only). With <paramref name="final"/> the
    /// stage and the job fail with the error.
    /// </summary>
    public Task<bool> FailAttemptAsync(TaskMessage task, int attempt, string errorCode, string error, bool final, CancellationToken ct) =>
        _transactions.ChangeAsync("stage_fail", task.JobId, work: async change =>
        {
            var run = change.Run;
            if (change.Job is null || JobStatus.IsTerminal(change.Job.Status) || run?.TaskId != task.TaskId || run.Attempts != attempt)
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
    public Task<bool> StopForBudgetAsync(TaskMessage task, int attempt, string message, CancellationToken ct) =>
        _transactions.ChangeAsync("stage_budget_stop", task.JobId, work: async change =>
        {
            var run = change.Run;
            if (change.Job is null || JobStatus.IsTerminal(change.Job.Status) || run?.TaskId != task.TaskId || run.Attempts != attempt)
            {
                return false;
            }
            await change.Connection.ExecuteAsync(
                "UPDATE stage_runs SET status = 'failed', error = @error, completed_at = now() WHERE job_id = @JobId AND stage = @Stage",
                new { task.JobId, task.Stage, error = $"budget_exceeded: {message}" }, change.Transaction);
            change.AddEvent(JobEventTypes.StageFailed, task.Stage, new { attempt = run.Attempts, error_code = BudgetExceededException.Code, error = message });
            change.Finish(JobStatus.Failed, JobEventTypes.JobFailed, BudgetExceededException.Code, $"{task.Stage}: {message}");
            return true;
        }, ct, stage: task.Stage);

    /// <summary>A task handed back on shutdown goes back to queued, keeping its attempt count (the attempt running now only).</summary>
    public Task RequeueAsync(TaskMessage task, int attempt, CancellationToken ct) =>
        _db.ExecuteAsync("stage_requeue",
            """
            UPDATE stage_runs SET status = 'queued', lease_entry = NULL
            WHERE job_id = @JobId AND stage = @Stage AND task_id = @TaskId AND status = 'running' AND attempts = @attempt
            """,
            new { task.JobId, task.Stage, task.TaskId, attempt }, ct);

    private sealed record StageBegin(TaskMessage Task, string Consumer, string Lease, bool TakeOver);

    /// <summary>What a stage's task produced, to be committed.</summary>
    private sealed record StageResult(TaskMessage Task, int Attempt, StageOutput Output);
}
