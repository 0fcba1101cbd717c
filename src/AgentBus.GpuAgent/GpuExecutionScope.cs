using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using AgentBus.Consumer;
using AgentBus.Gpu;
using AgentBus.Llm;
using AgentBus.Queue;
using AgentBus.Telemetry;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace AgentBus.GpuAgent;

/// <summary>
/// Runs each stage of the gpu queue on a leased GPU of this node. A GPU fits when it has a free
/// slot (TasksPerGpu) and MinFreeMemoryMiB free; among those the least busy wins, then the one
/// leased longest ago, so sequential stages spread over the GPUs. The lease is renewed while the
/// stage runs and released however it ends; if the agent dies the lease expires after LeaseTtl.
/// Task counts and durations per GPU are recorded here (agent_bus_gpu_tasks_total,
/// agent_bus_gpu_task_duration_seconds).
/// </summary>
public sealed partial class GpuExecutionScope(
    GpuMonitor monitor, GpuLeases leases, AgentBusMetrics metrics, IOptions<GpuAgentOptions> options, ILogger<GpuExecutionScope> logger)
    : IStageExecutionScope
{
    /// <summary>The status label values of agent_bus_gpu_tasks_total.</summary>
    public static readonly string[] Statuses = ["completed", "failed", "interrupted"];

    private static readonly TimeSpan Retry = TimeSpan.FromMilliseconds(500);
    private readonly GpuAgentOptions _options = options.Value;
    private readonly ConcurrentDictionary<string, long> _lastLeased = new();

    public int Capacity => monitor.Gpus.Count * _options.TasksPerGpu;

    public async Task<T> RunAsync<T>(TaskMessage task, Func<CancellationToken, Task<T>> stage, CancellationToken ct)
    {
        var held = await AcquireAsync(task, ct);
        var lease = held.Lease;
        var gpu = lease.Gpu.ToString(CultureInfo.InvariantCulture);
        Activity.Current?.SetTag("gpu.node", monitor.Node).SetTag("gpu.index", lease.Gpu).SetTag("gpu.uuid", lease.Uuid)
            .SetTag("gpu.inference_endpoint", lease.InferenceEndpoint);
        // With a node-local inference server for this GPU, the stage's model calls go there.
        LogLeased(task.Stage, lease.Gpu, lease.Uuid, lease.Slot, lease.InferenceEndpoint ?? "none: the configured provider");
        using var local = lease.InferenceEndpoint is { } endpoint ? InferenceEndpoint.Use(new Uri(endpoint), _options.InferenceModel) : null;

        using var renewal = new CancellationTokenSource();
        var renewing = RenewWhileRunningAsync(held, renewal.Token);
        var started = Stopwatch.GetTimestamp();
        var status = "failed";
        try
        {
            var result = await stage(ct);
            status = "completed";
            return result;
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            status = "interrupted";
            throw;
        }
        finally
        {
            await renewal.CancelAsync();
            await renewing;
            await ReleaseAsync(held);
            metrics.GpuTasks.Add(1, new("node", monitor.Node), new("gpu", gpu), new("uuid", lease.Uuid), new("status", status));
            metrics.GpuTaskDuration.Record(Stopwatch.GetElapsedTime(started).TotalSeconds, new("node", monitor.Node), new("gpu", gpu));
        }
    }

    private async Task<GpuLeases.Held> AcquireAsync(TaskMessage task, CancellationToken ct)
    {
        var waiting = false;
        while (true)
        {
            var gpus = monitor.Gpus;
            var busy = (await leases.ReadAsync(gpus.SelectMany(g => Enumerable.Range(0, _options.TasksPerGpu).Select(s => (g.Uuid, s))).ToList()))
                .ToLookup(l => l.Uuid, l => l.Slot);
            var candidates = gpus
                .Where(g => g.MemoryFreeBytes >= _options.MinFreeMemoryMiB * 1024 * 1024 && busy[g.Uuid].Count() < _options.TasksPerGpu)
                .OrderBy(g => busy[g.Uuid].Count()).ThenBy(g => _lastLeased.GetValueOrDefault(g.Uuid)).ThenBy(g => g.Index);
            foreach (var g in candidates)
            {
                foreach (var slot in Enumerable.Range(0, _options.TasksPerGpu).Except(busy[g.Uuid]))
                {
                    var lease = new GpuTaskLease(task.TaskId, task.JobId, task.Stage, monitor.Agent, g.Index, g.Uuid, slot,
                        _options.InferenceEndpoints.GetValueOrDefault(g.Index)?.ToString(), DateTimeOffset.UtcNow);
                    if (await leases.TryAcquireAsync(lease, _options.LeaseTtl) is { } held)
                    {
                        _lastLeased[g.Uuid] = Stopwatch.GetTimestamp();
                        return held;
                    }
                }
            }
            if (!waiting)
            {
                LogWaiting(task.Stage, gpus.Count, _options.MinFreeMemoryMiB);
                waiting = true;
            }
            await Task.Delay(Retry, ct);
        }
    }

    private async Task RenewWhileRunningAsync(GpuLeases.Held held, CancellationToken stop)
    {
        using var timer = new PeriodicTimer(_options.LeaseTtl / 3);
        while (await timer.WaitForNextTickAsync(stop).AsTask().ContinueWith(t => t.Status == TaskStatus.RanToCompletion && t.Result, TaskScheduler.Default))
        {
            try
            {
                if (!await leases.RenewAsync(held, _options.LeaseTtl))
                {
                    LogLeaseLost(held.Lease.Stage, held.Lease.Gpu);
                    return;
                }
            }
            catch (Exception e) when (e is RedisException or TimeoutException)
            {
                LogRedisError("renew", e.Message);
            }
        }
    }

    private async Task ReleaseAsync(GpuLeases.Held held)
    {
        try
        {
            await leases.ReleaseAsync(held);
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            LogRedisError("release", e.Message);
        }
    }

    [LoggerMessage(EventId = 710, EventName = "gpu_leased", Level = LogLevel.Information,
        Message = "Stage {Stage} runs on GPU {Gpu} ({Uuid}, slot {Slot}); inference endpoint: {Endpoint}")]
    private partial void LogLeased(string stage, int gpu, string uuid, int slot, string endpoint);

    [LoggerMessage(EventId = 711, EventName = "gpu_wait", Level = LogLevel.Information,
        Message = "Stage {Stage} waits for a GPU: none of {GpuCount} has a free slot and {MinFreeMiB} MiB free")]
    private partial void LogWaiting(string stage, int gpuCount, long minFreeMiB);

    [LoggerMessage(EventId = 712, EventName = "gpu_lease_lost", Level = LogLevel.Warning,
        Message = "Stage {Stage} lost its lease on GPU {Gpu} (not renewed in time); it finishes, but the GPU may be given to another stage")]
    private partial void LogLeaseLost(string stage, int gpu);

    [LoggerMessage(EventId = 713, EventName = "gpu_lease_redis_error", Level = LogLevel.Warning,
        Message = "GPU lease {Operation} failed: {Error}; the lease expires by itself")]
    private partial void LogRedisError(string operation, string error);
}
