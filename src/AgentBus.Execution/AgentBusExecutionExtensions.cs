using AgentBus.Agents;
using AgentBus.Consumer;
using AgentBus.Llm;
using AgentBus.Queue;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;

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
            .Validate(o => TaskQueue.Names.Contains(o.Queue), "AgentBus:Worker:Queue must be cpu or gpu.");
        builder.Services.TryAddSingleton<IStageRunner, StageRunner>();
        builder.Services.AddHostedService<TaskConsumer>();
        // In-flight stages get their grace period before the host gives up on them.
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(30));
        return builder;
    }
}
