using System.Text.Json;
using AgentBus.Data;
using Dapper;
using Microsoft.Extensions.Hosting;
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
    public static async Task AddAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string queueName, TaskMessage task)
    {
        await connection.ExecuteAsync(
            "INSERT INTO task_outbox (queue, task_id, job_id, payload) VALUES (@queueName, @TaskId, @JobId, @payload::jsonb)",
            new { queueName, task.TaskId, task.JobId, payload = JsonSerializer.Serialize(task) }, transaction);
    }

    /// <summary>Moves up to a batch of outbox rows to their queues; returns how many moved.</summary>
    public async Task<int> FlushAsync(CancellationToken ct)
    {
        try
        {
            return await db.InTransactionAsync("outbox_flush", async (connection, transaction) =>
            {
                // The rows are already in Redis when this commits: losing the delete in a crash
                // only sends them again (handlers are idempotent), so it need not wait for a WAL
                // flush. That halves the flushes per POST /api/projects, the limit on a busy disk.
                var rows = (await connection.QueryAsync<(string Queue, string Payload)>(new CommandDefinition(
                    """
                    SET LOCAL synchronous_commit TO OFF;
                    DELETE FROM task_outbox WHERE id IN
                      (SELECT id FROM task_outbox ORDER BY id FOR UPDATE SKIP LOCKED LIMIT 200)
                    RETURNING queue, payload::text
                    """, transaction: transaction, cancellationToken: ct))).AsList();
                foreach (var (queueName, payload) in rows)
                {
                    await queue.EnqueueAsync(queueName, JsonSerializer.Deserialize<TaskMessage>(payload)!);
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

/// <summary>Sweeps the outbox for tasks whose immediate hand-off failed (Redis down, process died).</summary>
public sealed partial class OutboxRelay(Outbox outbox, ILogger<OutboxRelay> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                while (await outbox.FlushAsync(stoppingToken) > 0)
                {
                }
            }
            catch (NpgsqlException e)
            {
                LogPostgresDown(e.Message);
            }
        }
    }

    [LoggerMessage(EventId = 201, EventName = "outbox_postgres_unavailable", Level = LogLevel.Warning, Message = "Outbox relay paused: Postgres unavailable ({Error})")]
    private partial void LogPostgresDown(string error);
}
