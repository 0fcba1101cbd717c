namespace AgentBus.Gpu;

/// <summary>
/// One GPU as read from NVML, nvidia-smi or a recording. Values a device does not report
/// (utilization under MIG, power on some boards) are null rather than a made-up zero.
/// </summary>
public sealed record GpuReading(
    int Index, string Uuid, string Name, double? UtilizationRatio, long MemoryUsedBytes, long MemoryTotalBytes,
    double? TemperatureCelsius, double? PowerWatts)
{
    public long MemoryFreeBytes => Math.Max(0, MemoryTotalBytes - MemoryUsedBytes);
}

/// <summary>A node's GPUs as last read, and the node's name: what the agent_bus_gpu_* gauges export.</summary>
public sealed record GpuSnapshot(string Node, IReadOnlyList<GpuReading> Gpus);

/// <summary>A GPU slot held by a running task (Redis key agentbus:gpu:lease:{uuid}:{slot}).</summary>
public sealed record GpuTaskLease(
    Guid TaskId, Guid JobId, string Stage, string Agent, int Gpu, string Uuid, int Slot, string? InferenceEndpoint,
    DateTimeOffset LeasedAt);

/// <summary>What a gpu-agent publishes about its node on every heartbeat.</summary>
public sealed record GpuNodeHeartbeat(
    string Node, string Agent, string Source, string? SourceError, int TasksPerGpu, IReadOnlyList<GpuReading> Gpus,
    IReadOnlyDictionary<int, string> InferenceEndpoints, DateTimeOffset HeartbeatAt);

/// <summary>One GPU of a live node with its free capacity and the tasks on it now (GET /api/gpu/nodes).</summary>
public sealed record GpuStatus(
    int Index, string Uuid, string Name, double? UtilizationRatio, long MemoryUsedBytes, long MemoryTotalBytes,
    long MemoryFreeBytes, double? TemperatureCelsius, double? PowerWatts, string? InferenceEndpoint, int Slots, int FreeSlots,
    IReadOnlyList<GpuTaskLease> RunningTasks);

/// <summary>A live node as GET /api/gpu/nodes shows it.</summary>
public sealed record GpuNodeStatus(
    string Node, string Agent, string Source, string? SourceError, DateTimeOffset HeartbeatAt, int GpuCount, int TasksPerGpu,
    int FreeSlots, IReadOnlyList<Guid> RunningTaskIds, IReadOnlyList<GpuStatus> Gpus);
