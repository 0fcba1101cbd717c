namespace AgentBus.Worker.Recovery;

public static class RecoveryExtensions
{
    /// <summary>Re-enqueues stages whose tasks Redis lost (one process at a time).</summary>
    public static IHostApplicationBuilder AddStageReconciler(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<ReconcilerOptions>().BindConfiguration(ReconcilerOptions.Section)
            .Validate(o => o.Interval >= TimeSpan.FromMilliseconds(100) && o.StaleAfter > TimeSpan.Zero && o.BatchSize >= 1,
                "AgentBus:Reconciler needs Interval >= 100 ms, StaleAfter > 0 and BatchSize >= 1.");
        builder.Services.AddHostedService<StageReconciler>();
        return builder;
    }

    /// <summary>Moves GPU tasks to cpu when no GPU node is left.</summary>
    public static IHostApplicationBuilder AddGpuQueueFallback(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<GpuFallbackOptions>().BindConfiguration(GpuFallbackOptions.Section)
            .Validate(o => o.FallbackAfter >= TimeSpan.Zero && o.FallbackCheckInterval >= TimeSpan.FromMilliseconds(100),
                "AgentBus:Gpu needs FallbackAfter >= 0 and FallbackCheckInterval >= 100 ms.");
        builder.Services.AddHostedService<GpuQueueFallback>();
        return builder;
    }
}
