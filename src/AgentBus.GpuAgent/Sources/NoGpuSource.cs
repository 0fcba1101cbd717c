using AgentBus.Gpu;

namespace AgentBus.GpuAgent.Sources;

/// <summary>A node with no usable GPU (no driver, no library): reports none, so the agent takes no GPU work.</summary>
public sealed class NoGpuSource : IGpuSource
{
    public string Name => "none";

    public Task<IReadOnlyList<GpuReading>> ReadAsync(CancellationToken ct) => Task.FromResult<IReadOnlyList<GpuReading>>([]);
}
