using AgentBus.Gpu;

namespace AgentBus.GpuAgent.Sources;

/// <summary>Where the gpu-agent reads its node's GPUs from: NVML, nvidia-smi, a recording, or nothing.</summary>
public interface IGpuSource
{
    /// <summary>nvml, nvidia-smi, recorded or none, as the registry and logs show it.</summary>
    string Name { get; }

    Task<IReadOnlyList<GpuReading>> ReadAsync(CancellationToken ct);
}
