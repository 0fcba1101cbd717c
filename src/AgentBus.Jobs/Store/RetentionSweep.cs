using AgentBus.Data;
using AgentBus.Jobs;
using AgentBus.Queue;
using AgentBus.Telemetry;
using Dapper;
using Npgsql;

namespace AgentBus.Store;

/// <summary>
/// Deletes what a <see cref="RetentionPolicy"/> no longer keeps: events of jobs finished before
/// the cutoff (never of a job that is unfinished or is being changed), artifact versions below a
/// later version of their job and type (never the latest), dead letters by age, and webhook
/// deliveries that ended (delivered or dead) before the cutoff. Each batch is
/// its own short statement, so a sweep never holds a long transaction or many row locks. One
/// sweep at a time across replicas: it holds a Postgres advisory lock on its connection, and a
/// replica that cannot take it skips the sweep.
/// </summary>
public sealed class RetentionSweep(Database db, TaskQueue queue, AgentBusMetrics metrics)
{
    // FOR SHARE: a job a change holds is skipped this time; a job resumed meanwhile (failed is not
    // final for a budget stop or a requeued dead letter) is re-checked under the lock and kept.
    private const string DeleteEventsSql =
        """
        WITH doomed AS (
          SELECT e.job_id, e.seq FROM job_events e JOIN jobs j ON j.job_id = e.job_id
          WHERE e.created_at < @cutoff AND j.completed_at < @cutoff AND j.status = ANY(@finished)
          ORDER BY e.created_at
          LIMIT @batch
          FOR SHARE OF j SKIP LOCKED)
        DELETE FROM job_events e USING doomed d WHERE e.job_id = d.job_id AND e.seq = d.seq
        """;

    // Only versions below an existing later one: the latest of each (job, type) always stays, and
    // the next version number (max + 1) is never reused.
    private const string DeleteVersionsSql =
        """
        WITH latest AS (
          SELECT job_id, type, max(version) AS version FROM artifacts WHERE version > 1 GROUP BY job_id, type),
        doomed AS (
          SELECT a.job_id, a.type, a.version FROM latest l
          JOIN artifacts a ON a.job_id = l.job_id AND a.type = l.type AND a.version < l.version
          WHERE a.created_at < @cutoff
          LIMIT @batch)
        DELETE FROM artifacts a USING doomed d WHERE a.job_id = d.job_id AND a.type = d.type AND a.version = d.version
        """;

    // Pending deliveries always stay: only delivered or dead ones, by when they ended.
    private const string DeleteDeliveriesSql =
        """
        WITH doomed AS (
          SELECT id FROM webhook_deliveries WHERE status <> 'pending' AND completed_at < @cutoff ORDER BY completed_at LIMIT @batch)
        DELETE FROM webhook_deliveries d USING doomed WHERE d.id = doomed.id
        """;

    private static readonly string[] Finished = [JobStatus.Completed, JobStatus.Failed, JobStatus.Canceled, JobStatus.Rejected];

    /// <summary>One sweep; null when another replica is sweeping.</summary>
    public Task<RetentionSwept?> SweepAsync(RetentionPolicy policy, CancellationToken ct) =>
        db.RunAsync("retention_sweep", async connection =>
        {
            var lockArgs = new { key = AdvisoryLocks.Retention };
            if (!await connection.ExecuteScalarAsync<bool>(new CommandDefinition("SELECT pg_try_advisory_lock(@key)", lockArgs, cancellationToken: ct)))
            {
                return null;
            }
            try
            {
                var now = DateTimeOffset.UtcNow;
                var events = await InBatchesAsync(connection, DeleteEventsSql, now - policy.JobEvents, policy.BatchSize, "job_events", ct);
                var versions = await InBatchesAsync(connection, DeleteVersionsSql, now - policy.ArtifactVersions, policy.BatchSize, "artifact_versions", ct);
                var deliveries = await InBatchesAsync(connection, DeleteDeliveriesSql, now - policy.WebhookDeliveries, policy.BatchSize, "webhook_deliveries", ct);
                var deadLetters = 0L;
                foreach (var name in TaskQueue.Names)
                {
                    deadLetters += await queue.TrimDeadLettersAsync(name, now - policy.DeadLetters);
                }
                metrics.RetentionDeleted.Add(deadLetters, new KeyValuePair<string, object?>("kind", "dead_letters"));
                return new RetentionSwept(events, versions, deadLetters, deliveries);
            }
            finally
            {
                // The pool does not reset sessions (NoResetOnClose): the lock must not go back with the connection.
                await connection.ExecuteAsync("SELECT pg_advisory_unlock(@key)", lockArgs);
            }
        }, ct);

    private async Task<long> InBatchesAsync(NpgsqlConnection connection, string sql, DateTimeOffset cutoff, int batch, string kind, CancellationToken ct)
    {
        var total = 0L;
        while (true)
        {
            var deleted = await connection.ExecuteAsync(new CommandDefinition(sql, new { cutoff = cutoff.UtcDateTime, batch, finished = Finished }, cancellationToken: ct));
            metrics.RetentionDeleted.Add(deleted, new KeyValuePair<string, object?>("kind", kind));
            total += deleted;
            if (deleted < batch)
            {
                return total;
            }
        }
    }
}
