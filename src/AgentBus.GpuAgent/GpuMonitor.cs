using AgentBus.Gpu;
using AgentBus.GpuAgent.Sources;
using AgentBus.Telemetry;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace AgentBus.GpuAgent;

/// <summary>
/// Reads the node's GPUs every RefreshInterval into the snapshot the agent_bus_gpu_* gauges and
/// the GPU leasing use, and writes the node's heartbeat to the registry. On shutdown it removes the
/// node at once, so new GPU work goes to cpu instead of waiting for the heartbeat to lapse.
/// </summary>
public sealed partial class GpuMonitor(
    GpuNodeRegistry registry, AgentBusMetrics metrics, IOptions<GpuAgentOptions> options, ILogger<GpuMonitor> logger) : BackgroundService
{
    private readonly GpuAgentOptions _options = options.Value;
    private IGpuSource _source = new NoGpuSource();
    private string? _openError;
    private string? _readError;
    private readonly HashSet<string> _counted = [];

    /// <summary>This process, as lease holders and the registry name it (host:pid:random).</summary>
    public string Agent { get; } = $"{Environment.MachineName}:{Environment.ProcessId}:{Guid.NewGuid().ToString("N")[..6]}";

    public string Node => _options.Node;

    /// <summary>The GPUs as last read; empty until the first read and on a node without GPUs.</summary>
    public IReadOnlyList<GpuReading> Gpus => metrics.Gpus?.Gpus ?? [];

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        (_source, _openError) = await GpuSources.OpenAsync(_options.Source, _options.RecordedPath, _options.NvidiaSmiPath, stoppingToken);
        using var timer = new PeriodicTimer(_options.RefreshInterval);
        var first = true;
        do
        {
            var gpus = await ReadAsync(stoppingToken);
            metrics.Gpus = new GpuSnapshot(Node, gpus);
            StartTaskCounters(gpus);
            if (first)
            {
                LogSource(Node, _source.Name, gpus.Count, _openError ?? _readError ?? "none");
                first = false;
            }
            await HeartbeatAsync(gpus);
        }
        while (await timer.WaitForNextTickAsync(stoppingToken).AsTask().ContinueWith(t => t.Status == TaskStatus.RanToCompletion && t.Result, TaskScheduler.Default));
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        try
        {
            await registry.RemoveAsync(Node, Agent);
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            LogHeartbeatFailed(e.Message);
        }
        (_source as IDisposable)?.Dispose();
    }

    private async Task<IReadOnlyList<GpuReading>> ReadAsync(CancellationToken ct)
    {
        try
        {
            var gpus = await _source.ReadAsync(ct);
            _readError = null;
            return gpus;
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException or IOException or TimeoutException or System.ComponentModel.Win32Exception)
        {
            // A GPU that fell off the bus or a driver reload: report none until it reads again, so no work is leased onto it.
            _readError = $"{_source.Name}: {e.Message}";
            LogReadFailed(_readError);
            return [];
        }
    }

    /// <summary>
    /// Exports agent_bus_gpu_tasks_total at 0 for every GPU and status as soon as the GPU is seen:
    /// Prometheus' increase() cannot count the first task on a GPU whose series starts at 1.
    /// </summary>
    private void StartTaskCounters(IReadOnlyList<GpuReading> gpus)
    {
        foreach (var gpu in gpus.Where(g => _counted.Add(g.Uuid)))
        {
            foreach (var status in GpuExecutionScope.Statuses)
            {
                metrics.GpuTasks.Add(0, new("node", Node), new("gpu", gpu.Index.ToString(System.Globalization.CultureInfo.InvariantCulture)),
                    new("uuid", gpu.Uuid), new("status", status));
            }
        }
    }

    private async Task HeartbeatAsync(IReadOnlyList<GpuReading> gpus)
    {
        try
        {
            await registry.PublishAsync(new GpuNodeHeartbeat(Node, Agent, _source.Name, _readError ?? _openError, _options.TasksPerGpu, gpus,
                _options.InferenceEndpoints.ToDictionary(e => e.Key, e => e.Value.ToString()), DateTimeOffset.UtcNow), _options.HeartbeatTtl);
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            LogHeartbeatFailed(e.Message);
        }
    }

    [LoggerMessage(EventId = 700, EventName = "gpu_source_opened", Level = LogLevel.Information,
        Message = "Node {Node}: {GpuCount} GPU(s) from source {Source} (problem: {Problem})")]
    private partial void LogSource(string node, string source, int gpuCount, string problem);

    [LoggerMessage(EventId = 701, EventName = "gpu_read_failed", Level = LogLevel.Warning, Message = "Reading GPUs failed: {Error}; reporting none")]
    private partial void LogReadFailed(string error);

    [LoggerMessage(EventId = 702, EventName = "gpu_heartbeat_failed", Level = LogLevel.Warning, Message = "GPU node heartbeat not written: {Error}")]
    private partial void LogHeartbeatFailed(string error);
}
