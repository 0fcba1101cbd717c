using AgentBus.Gpu;
using AgentBus.Queue;
using AgentBus.Routing;
using Microsoft.Extensions.Options;
using Npgsql;
using StackExchange.Redis;

namespace AgentBus.Worker.Recovery;

/// <summary>
/// Moves GPU tasks to the cpu queue once no GPU node has been alive for FallbackAfter: the last
/// node may die after tasks were queued for it (the original system left such jobs hanging).
/// Every entry of the gpu stream (waiting, or pending with a dead consumer) and every delayed
/// retry moves in one Lua script, so none is lost or doubled; running it in several workers at
/// once is harmless. A consumer that is in fact still running one of them (its heartbeat lapsed)
/// at worst runs the stage twice, which the job store already treats as a redelivery.
/// </summary>
public sealed partial class GpuQueueFallback(
    IConnectionMultiplexer redis, GpuNodeRegistry nodes, JobRouter router, IOptions<GpuFallbackOptions> options,
    ILogger<GpuQueueFallback> logger) : BackgroundService
{
    private static readonly LuaScript MoveScript = LuaScript.Prepare("""
        local jobs = {}
        local function job_of(fields)
          for i = 1, #fields, 2 do if fields[i] == 'job_id' then return fields[i + 1] end end
          return nil
        end
        for _, entry in ipairs(redis.call('XRANGE', @from, '-', '+', 'COUNT', @batch)) do
          redis.call('XADD', @to, '*', unpack(entry[2]))
          redis.pcall('XACK', @from, @group, entry[1])
          redis.call('XDEL', @from, entry[1])
          jobs[#jobs + 1] = job_of(entry[2])
        end
        local delayed = redis.call('ZRANGE', @fromDelayed, 0, @batch - 1, 'WITHSCORES')
        for i = 1, #delayed, 2 do
          redis.call('ZADD', @toDelayed, delayed[i + 1], delayed[i])
          redis.call('ZREM', @fromDelayed, delayed[i])
          jobs[#jobs + 1] = job_of(cjson.decode(delayed[i]))
        end
        return jobs
        """);

    private readonly GpuFallbackOptions _options = options.Value;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(_options.FallbackCheckInterval);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                await SweepAsync(stoppingToken);
            }
            catch (Exception e) when (e is RedisException or RedisTimeoutException or NpgsqlException)
            {
                LogSweepFailed(e.Message);
            }
        }
    }

    private async Task SweepAsync(CancellationToken ct)
    {
        var aliveUntil = await nodes.GpuNodesAliveUntilAsync();
        if (aliveUntil is { } until && DateTimeOffset.UtcNow - until < _options.FallbackAfter)
        {
            return;
        }
        var db = redis.GetDatabase();
        while (true)
        {
            var moved = (RedisResult[])(await db.ScriptEvaluateAsync(MoveScript, new
            {
                from = TaskQueue.StreamKey(TaskQueue.Gpu),
                fromDelayed = TaskQueue.DelayedKey(TaskQueue.Gpu),
                to = TaskQueue.StreamKey(TaskQueue.Cpu),
                toDelayed = TaskQueue.DelayedKey(TaskQueue.Cpu),
                group = TaskQueue.Group,
                batch = 100,
            }))!;
            if (moved.Length == 0)
            {
                return;
            }
            await db.PublishAsync(TaskQueue.NotifyChannel(TaskQueue.Cpu), "1", CommandFlags.FireAndForget);
            var jobs = moved.Select(j => Guid.TryParse((string?)j, out var id) ? id : Guid.Empty).Where(id => id != Guid.Empty).Distinct().ToList();
            var since = aliveUntil is { } t ? $"since {t:yyyy-MM-ddTHH:mm:ssZ}" : "in the last day";
            await router.RecordFallbackAsync(jobs, $"no GPU node has been alive {since}; its queued GPU tasks were moved to cpu at {DateTimeOffset.UtcNow:yyyy-MM-ddTHH:mm:ssZ}", ct);
            LogMoved(moved.Length, jobs.Count, since);
        }
    }

    [LoggerMessage(EventId = 610, EventName = "gpu_tasks_moved_to_cpu", Level = LogLevel.Warning,
        Message = "Moved {Tasks} task(s) of {Jobs} job(s) from the gpu queue to cpu: no GPU node alive {Since}")]
    private partial void LogMoved(int tasks, int jobs, string since);

    [LoggerMessage(EventId = 611, EventName = "gpu_fallback_sweep_failed", Level = LogLevel.Warning, Message = "GPU fallback sweep failed: {Error}")]
    private partial void LogSweepFailed(string error);
}
