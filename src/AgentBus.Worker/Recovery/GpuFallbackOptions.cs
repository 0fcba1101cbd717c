namespace AgentBus.Worker.Recovery;

/// <summary>Settings of the gpu-to-cpu fallback sweep, bound from "AgentBus:Gpu".</summary>
public sealed class GpuFallbackOptions
{
    public const string Section = "AgentBus:Gpu";

    /// <summary>How long no GPU node may be alive before tasks waiting in the gpu queue move to cpu.</summary>
    public TimeSpan FallbackAfter { get; set; } = TimeSpan.FromSeconds(60);

    public TimeSpan FallbackCheckInterval { get; set; } = TimeSpan.FromSeconds(5);
}
