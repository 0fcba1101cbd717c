using AgentBus.Consumer;

namespace AgentBus.GpuAgent;

public static class GpuAgentExtensions
{
    /// <summary>GPU telemetry and heartbeat, and the GPU lease around every stage the consumer runs.</summary>
    public static IHostApplicationBuilder AddGpuAgent(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<GpuAgentOptions>().BindConfiguration(GpuAgentOptions.Section)
            .PostConfigure(o => o.Node = o.Node is { Length: > 0 } ? o.Node : builder.Configuration["NODE_NAME"] ?? Environment.MachineName)
            .Validate(o => GpuAgentOptions.Sources.Contains(o.Source), "AgentBus:Gpu:Source must be auto, nvml, nvidia-smi or recorded.")
            .Validate(o => o.Source != "recorded" || !string.IsNullOrWhiteSpace(o.RecordedPath), "AgentBus:Gpu:Source=recorded needs AgentBus:Gpu:RecordedPath.")
            .Validate(o => o.TasksPerGpu is >= 1 and <= 64, "AgentBus:Gpu:TasksPerGpu must be 1 to 64.")
            .Validate(o => o.MinFreeMemoryMiB >= 0, "AgentBus:Gpu:MinFreeMemoryMiB must not be negative.")
            .Validate(o => o.RefreshInterval >= TimeSpan.FromMilliseconds(100) && o.HeartbeatTtl > o.RefreshInterval,
                "AgentBus:Gpu needs RefreshInterval >= 100 ms and HeartbeatTtl > RefreshInterval.")
            .Validate(o => o.LeaseTtl >= TimeSpan.FromSeconds(1), "AgentBus:Gpu:LeaseTtl must be at least 1 s.")
            .ValidateOnStart();
        builder.Services.AddSingleton<GpuMonitor>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<GpuMonitor>());
        builder.Services.AddSingleton<IStageExecutionScope, GpuExecutionScope>();
        return builder;
    }
}
