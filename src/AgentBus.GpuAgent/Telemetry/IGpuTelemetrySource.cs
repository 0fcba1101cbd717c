using AgentBus.Gpu;

namespace AgentBus.GpuAgent.Telemetry;

/// <summary>Where the gpu-agent reads its node's GPUs from: NVML, nvidia-smi, a recording, or nothing.</summary>
public interface IGpuTelemetrySource
{
    /// <summary>nvml, nvidia-smi, recorded or none, as the registry and logs show it.</summary>
    string Name { get; }

    Task<IReadOnlyList<GpuReading>> ReadAsync(CancellationToken ct);
}

/// <summary>A node with no usable GPU (no driver, no library): reports none, so the agent takes no GPU work.</summary>
public sealed class NoGpuSource : IGpuTelemetrySource
{
    public string Name => "none";

    public Task<IReadOnlyList<GpuReading>> ReadAsync(CancellationToken ct) => Task.FromResult<IReadOnlyList<GpuReading>>([]);
}
