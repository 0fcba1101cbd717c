using System.Globalization;
using System.Text.Json;
using AgentBus.Data;
using AgentBus.Gpu;
using AgentBus.Queue;
using Dapper;
using Microsoft.Extensions.Logging;
using Npgsql;
using StackExchange.Redis;

namespace AgentBus.Routing;

/// <summary>
/// Routes jobs between the cpu and gpu queues. The decision (detector or the submitter's
/// requires_gpu) is stored with the job when it is created; each stage of a GPU job then goes to
/// the gpu queue only while a GPU node is alive, else to cpu with the reason recorded, so a job
/// never waits on a queue nobody consumes.
/// </summary>
public sealed partial class JobRouter(Database db, GpuNodeRegistry nodes, ILogger<JobRouter> logger)
{
    public static GpuDetection Decide(string name, string requirements, bool? requiresGpu)
    {
        var detected = GpuWorkDetector.Detect(name, requirements);
        return requiresGpu is { } requested
            ? detected with
            {
                RequiresGpu = requested,
                Reasons = [$"requires_gpu={(requested ? "true" : "false")} was set on the project and overrides the detector", .. detected.Reasons],
            }
            : detected;
    }

    /// <summary>Stores new jobs' routing decisions, in the transaction that creates the jobs.</summary>
    internal static SqlStatement Record(IReadOnlyList<(Guid JobId, GpuDetection Decision)> jobs) => new(
        """
        INSERT INTO job_routing (job_id, requires_gpu, confidence, reasons, queue)
          SELECT r.job_id, r.requires_gpu, r.confidence, r.reasons::jsonb, r.queue
          FROM unnest(@routingJobIds, @routingRequiresGpu, @routingConfidence, @routingReasons, @routingQueue) AS r(job_id, requires_gpu, confidence, reasons, queue)
        """,
        new
        {
            routingJobIds = jobs.Select(j => j.JobId).ToArray(),
            routingRequiresGpu = jobs.Select(j => j.Decision.RequiresGpu).ToArray(),
            routingConfidence = jobs.Select(j => j.Decision.Confidence).ToArray(),
            routingReasons = jobs.Select(j => JsonSerializer.Serialize(j.Decision.Reasons)).ToArray(),
            routingQueue = jobs.Select(j => j.Decision.RequiresGpu ? TaskQueue.Gpu : TaskQueue.Cpu).ToArray(),
        });

    /// <summary>
    /// The queue for the next stage of a job whose row the caller has locked, given the job's stored
    /// requires_gpu (read with the lock). A GPU job falls back
    /// to cpu when no GPU node has a live heartbeat. When Redis cannot say, the stage goes to gpu:
    /// it waits in the outbox until Redis answers, and the fallback sweep moves it if no node comes.
    /// </summary>
    public async Task<string> QueueForAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, Guid jobId, string stage, bool requiresGpu)
    {
        if (!requiresGpu)
        {
            return TaskQueue.Cpu;
        }
        bool alive;
        try
        {
            alive = await nodes.AnyGpuNodeAliveAsync();
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            LogRegistryUnavailable(e.Message);
            alive = true;
        }
        var queue = alive ? TaskQueue.Gpu : TaskQueue.Cpu;
        var fallback = alive ? null : string.Create(CultureInfo.InvariantCulture,
            $"no GPU node had a live heartbeat when stage {stage} was queued at {DateTimeOffset.UtcNow:yyyy-MM-ddTHH:mm:ssZ}; it runs on cpu");
        await connection.ExecuteAsync(
            "UPDATE job_routing SET queue = @queue, fallback_reason = coalesce(@fallback, fallback_reason), updated_at = now() WHERE job_id = @jobId",
            new { jobId, queue, fallback }, transaction);
        return queue;
    }

    /// <summary>Records that tasks of these jobs were moved from gpu to cpu by the fallback sweep.</summary>
    public Task RecordFallbackAsync(IReadOnlyCollection<Guid> jobIds, string reason, CancellationToken ct) =>
        db.ExecuteAsync("job_routing_fallback",
            "UPDATE job_routing SET queue = 'cpu', fallback_reason = @reason, updated_at = now() WHERE job_id = ANY(@jobIds)",
            new { jobIds = jobIds.ToArray(), reason }, ct);

    /// <summary>A job's routing, read into <see cref="RoutingRow"/> (no row for a job created before routing existed).</summary>
    internal static SqlStatement Read(Guid jobId) => new(
        "SELECT queue, requires_gpu, confidence, reasons::text AS reasons, fallback_reason FROM job_routing WHERE job_id = @routingJobId",
        new { routingJobId = jobId });

    internal sealed class RoutingRow
    {
        public string Queue { get; init; } = "";
        public bool RequiresGpu { get; init; }
        public double Confidence { get; init; }
        public string Reasons { get; init; } = "[]";
        public string? FallbackReason { get; init; }

        public JobRouting ToRouting() => new(Queue, RequiresGpu, Confidence, JsonSerializer.Deserialize<string[]>(Reasons)!, FallbackReason);
    }

    [LoggerMessage(EventId = 600, EventName = "gpu_registry_unavailable", Level = LogLevel.Warning,
        Message = "Cannot tell whether a GPU node is alive ({Error}); the stage goes to the gpu queue and the fallback sweep covers it")]
    private partial void LogRegistryUnavailable(string error);
}
