using AgentBus.Agents;
using AgentBus.Data;
using AgentBus.Events;
using AgentBus.Gpu;
using AgentBus.Jobs;
using AgentBus.Llm;
using AgentBus.Queue;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;

namespace AgentBus;

public static class AgentBusServiceCollectionExtensions
{
    /// <summary>Schema, jobs, queue and events: what every service needs. Expects Postgres and Redis clients registered.</summary>
    public static IHostApplicationBuilder AddAgentBusCore(this IHostApplicationBuilder builder)
    {
        // Registered first: hosted services start in order, and nothing may touch the schema before it is current.
        builder.Services.AddHostedService<Migrator>();
        builder.Services.AddOptions<QueueOptions>().BindConfiguration(QueueOptions.Section)
            .Validate(o => o.Lease >= TimeSpan.FromSeconds(1) && o.MaxAttempts >= 1, "AgentBus:Queue needs Lease >= 1 s and MaxAttempts >= 1.");
        builder.Services.AddSingleton<Database>();
        builder.Services.AddSingleton<TaskQueue>();
        builder.Services.AddSingleton<Outbox>();
        builder.Services.AddSingleton<JobEventBus>();
        builder.Services.AddSingleton<GpuLeases>();
        builder.Services.AddSingleton<GpuNodeRegistry>();
        builder.Services.AddSingleton<JobRouter>();
        builder.Services.AddSingleton<JobStore>();
        builder.Services.AddHostedService<OutboxRelay>();
        return builder;
    }

    /// <summary>Runs agent stages from a queue (the worker: cpu; the gpu-agent: gpu).</summary>
    public static IHostApplicationBuilder AddAgentBusStageConsumer(this IHostApplicationBuilder builder)
    {
        builder.AddAgentBusLlm();
        builder.Services.AddOptions<ConsumerOptions>().BindConfiguration(ConsumerOptions.Section)
            .Validate(o => o.Concurrency is >= 1 and <= 256, "AgentBus:Worker:Concurrency must be 1 to 256.")
            .Validate(o => TaskQueue.Names.Contains(o.Queue), "AgentBus:Worker:Queue must be cpu or gpu.");
        builder.Services.TryAddSingleton<IStageRunner, StageRunner>();
        builder.Services.AddHostedService<TaskConsumer>();
        // In-flight stages get their grace period before the host gives up on them.
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(30));
        return builder;
    }

    /// <summary>Re-enqueues stages whose tasks Redis lost (one process at a time; the worker runs it).</summary>
    public static IHostApplicationBuilder AddStageReconciler(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<ReconcilerOptions>().BindConfiguration(ReconcilerOptions.Section)
            .Validate(o => o.Interval >= TimeSpan.FromMilliseconds(100) && o.StaleAfter > TimeSpan.Zero && o.BatchSize >= 1,
                "AgentBus:Reconciler needs Interval >= 100 ms, StaleAfter > 0 and BatchSize >= 1.");
        builder.Services.AddHostedService<StageReconciler>();
        return builder;
    }
}
