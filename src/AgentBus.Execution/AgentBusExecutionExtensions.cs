using AgentBus.Agents;
using AgentBus.Consumer;
using AgentBus.Llm;
using AgentBus.Queue;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace AgentBus;

public static class AgentBusExecutionExtensions
{
    /// <summary>
    /// Runs agent stages from a queue (the worker: cpu; the gpu-agent: gpu): the consumer, the
    /// agents and the model clients. Expects <see cref="AgentBusJobsExtensions.AddAgentBusJobs"/>.
    /// </summary>
    public static IHostApplicationBuilder AddStageConsumer(this IHostApplicationBuilder builder)
    {
        builder.AddAgentBusLlm();
        builder.Services.AddOptions<ConsumerOptions>().BindConfiguration(ConsumerOptions.Section)
            .Validate(o => o.Concurrency is >= 1 and <= 256, "AgentBus:Worker:Concurrency must be 1 to 256.")
            .Validate(o => TaskQueue.Names.Contains(o.Queue), "AgentBus:Worker:Queue must be cpu or gpu.")
            // Leases are renewed through the drain, but a drain that Redis cannot reach must still
            // end before its tasks' leases lapse, or another consumer runs (and pays for) them again.
            .Validate<IOptions<QueueOptions>>((o, queue) => o.ShutdownGrace > TimeSpan.Zero && o.ShutdownGrace < queue.Value.Lease,
                "AgentBus:Worker:ShutdownGrace must be positive and shorter than AgentBus:Queue:Lease.")
            .ValidateOnStart();
        builder.Services.TryAddSingleton<IStageRunner, StageRunner>();
        builder.Services.AddHostedService<TaskConsumer>();
        // In-flight stages get their grace period, and the hand-back after it, before the host gives up on them.
        builder.Services.AddOptions<HostOptions>().Configure<IOptions<ConsumerOptions>>((host, consumer) =>
            host.ShutdownTimeout = consumer.Value.ShutdownGrace + TaskConsumer.HandBackAllowance + TimeSpan.FromSeconds(5));
        return builder;
    }
}
