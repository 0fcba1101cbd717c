using System.Text.Json;
using AgentBus.Data;
using Dapper;
using Microsoft.Extensions.Logging;
using Npgsql;
using StackExchange.Redis;

namespace AgentBus.Queue;

/// <summary>
/// Tasks are written to task_outbox in the transaction that makes them due, then moved to Redis.
/// A row leaves the outbox only in the transaction that saw its XADD succeed, so a Redis outage
/// or a crash at any point delays a task but never loses it (a duplicate is possible: handlers
/// are idempotent).
/// </summary>
public sealed partial class Outbox(Database db, TaskQueue queue, ILogger<Outbox> logger)
{
    /// <summary>The insert of tasks into the outbox, for the transaction that makes them due.</summary>
    internal static SqlStatement Insert(IEnumerable<(string Queue, TaskMessage Task)> tasks)
    {
        var list = tasks.ToList();
        return new(
            """
            INSERT INTO task_outbox (queue, task_id, job_id, payload)
            SELECT t.queue, t.task_id, t.job_id, t.payload::jsonb FROM unnest(@outboxQueues, @outboxTaskIds, @outboxJobIds, @outboxPayloads) AS t(queue, task_id, job_id, payload)
            RETURNING id
            """,
            new
            {
                outboxQueues = list.Select(t => t.Queue).ToArray(),
                outboxTaskIds = list.Select(t => t.Task.TaskId).ToArray(),
                outboxJobIds = list.Select(t => t.Task.JobId).ToArray(),
                outboxPayloads = list.Select(t => JsonSerializer.Serialize(t.Task)).ToArray(),
            });
    }

    /// <summary>Adds one task to the outbox in the caller's transaction.</summary>
    public static Task AddAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string queueName, TaskMessage task) =>
        connection.ExecuteAsync(new SqlBatch().Add(Insert([(queueName, task)])).Command(transaction));

    /// <summary>Moves up to a batch of outbox rows to their queues; returns how many moved.</summary>
    public Task<int> FlushAsync(CancellationToken ct) => MoveAsync(new(
        "DELETE FROM task_outbox WHERE id IN (SELECT id FROM task_outbox ORDER BY id FOR UPDATE SKIP LOCKED LIMIT 200) RETURNING queue, payload::text"), ct);

    /// <summary>
    /// Moves the given rows (those a change just committed) to their queues: found by primary key,
    /// without walking the rest of the outbox. Rows the relay is moving at that moment are left to it.
    /// </summary>
    public Task<int> HandOffAsync(IReadOnlyCollection<long> ids, CancellationToken ct) => MoveAsync(new(
        "DELETE FROM task_outbox WHERE id IN (SELECT id FROM task_outbox WHERE id = ANY(@ids) FOR UPDATE SKIP LOCKED) RETURNING queue, payload::text",
        new { ids = ids.ToArray() }), ct);

    /// <summary>
    /// Deletes rows (<paramref name="deleteReturning"/>) and enqueues them, committing only once
    /// Redis has them all. The commit is asynchronous: losing the delete in a crash only sends the
    /// rows again (handlers are idempotent), and it halves the WAL flushes per POST /api/projects.
    /// </summary>
    private async Task<int> MoveAsync(SqlStatement deleteReturning, CancellationToken ct)
    {
        try
        {
            return await db.InTransactionAsync("outbox_flush", async (connection, transaction) =>
            {
                var rows = (await connection.QueryAsync<(string Queue, string Payload)>(
                    new SqlBatch().Add(TransactionSettings.AsyncCommit).Add(deleteReturning).Command(transaction, ct))).AsList();
                foreach (var tasks in rows.GroupBy(r => r.Queue, r => JsonSerializer.Deserialize<TaskMessage>(r.Payload)!))
                {
                    await queue.EnqueueAsync(tasks.Key, [.. tasks]);
                }
                return rows.Count;
            }, ct);
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            LogRedisDown(e.Message);
            return 0;
        }
    }

    [LoggerMessage(EventId = 200, EventName = "outbox_redis_unavailable", Level = LogLevel.Warning, Message = "Outbox kept its tasks: Redis unavailable ({Error})")]
    private partial void LogRedisDown(string error);
}
