using AgentBus.Data;
using AgentBus.Jobs;
using AgentBus.Queue;
using Dapper;
using Microsoft.Extensions.Logging;

namespace AgentBus.Store;

/// <summary>
/// Erases a project and everything derived from it (a privacy request): its jobs with their stage
/// runs, artifacts, events, routing, model calls, queued outbox rows, idempotency keys and dead
/// letters, in one transaction. An unfinished job needs no cancel first: its row is locked, so
/// every job change (a stage's start or result, an operator's action) waits and then finds no
/// job and writes nothing; a model call finishing later cannot be recorded (llm_calls references
/// the job). Its stages are told to stop after the commit, and tasks still in Redis are skipped
/// when delivered. The model calls' cost survives only as an anonymous daily sum (llm_spend_erased).
/// </summary>
public sealed partial class ProjectErasure
{
    private readonly Database _db;
    private readonly JobTransactions _transactions;
    private readonly TaskQueue _queue;
    private readonly JobDetailCache _cache;
    private readonly ILogger<ProjectErasure> _logger;

    internal ProjectErasure(Database db, JobTransactions transactions, TaskQueue queue, JobDetailCache cache, ILogger<ProjectErasure> logger) =>
        (_db, _transactions, _queue, _cache, _logger) = (db, transactions, queue, cache, logger);

    // Jobs, then the project, then the jobs again: the order every job change takes (jobs in id
    // order; a budget change then the project), so no deadlock. The project's lock waits for, then
    // bars, a re-run inserting a job; the second read (a new snapshot) sees any job it committed.
    private const string LockSql =
        """
        SELECT job_id FROM jobs WHERE project_id = @projectId ORDER BY job_id FOR UPDATE;
        SELECT project_id FROM projects WHERE project_id = @projectId FOR UPDATE;
        SELECT job_id, status FROM jobs WHERE project_id = @projectId ORDER BY job_id FOR UPDATE;
        """;

    private const string DeleteSql =
        """
        WITH calls AS (
          DELETE FROM llm_calls WHERE project_id = @projectId
          RETURNING created_at, agent_type, provider, model, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cost_usd),
        kept AS (
          INSERT INTO llm_spend_erased AS s (day, agent_type, provider, model, calls, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, unpriced_calls, cost_usd)
          SELECT (created_at AT TIME ZONE 'UTC')::date, agent_type, provider, model, count(*), sum(input_tokens), sum(output_tokens),
                 sum(cache_read_tokens), sum(cache_write_tokens), count(*) FILTER (WHERE cost_usd IS NULL), coalesce(sum(cost_usd), 0)
          FROM calls GROUP BY 1, 2, 3, 4
          ON CONFLICT (day, agent_type, provider, model) DO UPDATE SET
            calls = s.calls + EXCLUDED.calls, input_tokens = s.input_tokens + EXCLUDED.input_tokens,
            output_tokens = s.output_tokens + EXCLUDED.output_tokens, cache_read_tokens = s.cache_read_tokens + EXCLUDED.cache_read_tokens,
            cache_write_tokens = s.cache_write_tokens + EXCLUDED.cache_write_tokens, unpriced_calls = s.unpriced_calls + EXCLUDED.unpriced_calls,
            cost_usd = s.cost_usd + EXCLUDED.cost_usd)
        SELECT count(*)::int FROM calls;
        WITH d AS (DELETE FROM job_events WHERE job_id = ANY(@jobIds) RETURNING 1) SELECT count(*)::int FROM d;
        WITH d AS (DELETE FROM artifacts WHERE job_id = ANY(@jobIds) RETURNING 1) SELECT count(*)::int FROM d;
        WITH d AS (DELETE FROM stage_runs WHERE job_id = ANY(@jobIds) RETURNING 1) SELECT count(*)::int FROM d;
        WITH d AS (DELETE FROM job_routing WHERE job_id = ANY(@jobIds) RETURNING 1) SELECT count(*)::int FROM d;
        WITH d AS (DELETE FROM task_outbox WHERE job_id = ANY(@jobIds) RETURNING 1) SELECT count(*)::int FROM d;
        WITH d AS (DELETE FROM idempotency_keys WHERE project_id = @projectId RETURNING 1) SELECT count(*)::int FROM d;
        WITH d AS (DELETE FROM jobs WHERE project_id = @projectId RETURNING 1) SELECT count(*)::int FROM d;
        DELETE FROM projects WHERE project_id = @projectId;
        """;

    /// <summary>Erases the project; null when there is none. <paramref name="actor"/> is who asked, for the audit log line.</summary>
    public async Task<ProjectErased?> EraseAsync(Guid projectId, string actor, CancellationToken ct)
    {
        var erased = await _db.InTransactionAsync("project_erase", async (connection, transaction) =>
        {
            List<(Guid JobId, string Status)> jobs;
            await using (var locks = await connection.QueryMultipleAsync(new CommandDefinition(LockSql, new { projectId }, transaction, cancellationToken: ct)))
            {
                await locks.ReadAsync<Guid>();
                if (!(await locks.ReadAsync<Guid>()).Any())
                {
                    return null;
                }
                jobs = (await locks.ReadAsync<(Guid, string)>()).AsList();
            }
            var jobIds = jobs.Select(j => j.JobId).ToArray();
            await using var deleted = await connection.QueryMultipleAsync(new CommandDefinition(DeleteSql, new { projectId, jobIds }, transaction, cancellationToken: ct));
            var (calls, events, artifacts, runs, routings, outbox, keys, jobRows) = (
                await deleted.ReadSingleAsync<int>(), await deleted.ReadSingleAsync<int>(), await deleted.ReadSingleAsync<int>(), await deleted.ReadSingleAsync<int>(),
                await deleted.ReadSingleAsync<int>(), await deleted.ReadSingleAsync<int>(), await deleted.ReadSingleAsync<int>(), await deleted.ReadSingleAsync<int>());
            var active = jobs.Where(j => !JobStatus.IsTerminal(j.Status)).Select(j => j.JobId).ToList();
            return new { Counts = new ProjectErased(projectId, jobRows, runs, artifacts, events, calls, routings, outbox, keys, 0, active.Count), Active = active, JobIds = jobIds };
        }, ct);
        if (erased is null)
        {
            return null;
        }
        // Gone from this replica's reads now; other replicas' cached copies age out (JobCacheOptions.Ttl).
        _cache.Drop(erased.JobIds);
        foreach (var jobId in erased.Active)
        {
            await _transactions.PublishStopQuietlyAsync(jobId);
        }
        // After the commit: a dead letter of one of its jobs written meanwhile still goes.
        var result = erased.Counts with { DeadLetters = await _queue.RemoveDeadLettersOfProjectAsync(projectId) };
        LogErased(actor, projectId, result.Jobs, result.JobsCanceled, result.StageRuns, result.Artifacts, result.Events, result.LlmCalls, result.Routings,
            result.OutboxRows, result.IdempotencyKeys, result.DeadLetters);
        return result;
    }

    [LoggerMessage(EventId = 330, EventName = "project_erased", Level = LogLevel.Warning,
        Message = "Project {ProjectId} erased by {Actor}: {Jobs} job(s) ({JobsCanceled} unfinished, stopped), {StageRuns} stage run(s), {Artifacts} artifact(s), "
            + "{Events} event(s), {LlmCalls} model call(s) (their cost kept as an anonymous daily sum), {Routings} routing row(s), {OutboxRows} outbox row(s), "
            + "{IdempotencyKeys} idempotency key(s), {DeadLetters} dead letter(s)")]
    private partial void LogErased(string actor, Guid projectId, int jobs, int jobsCanceled, int stageRuns, int artifacts, int events, int llmCalls, int routings,
        int outboxRows, int idempotencyKeys, long deadLetters);
}
