using AgentBus.Queue;

namespace AgentBus.Consumer;

/// <summary>
/// What a consumer must hold while a stage runs, for consumers that need more than a free
/// concurrency slot: the gpu-agent registers one that leases a GPU per stage. The worker
/// registers none, and <see cref="TaskConsumer"/> runs stages directly.
/// </summary>
public interface IStageExecutionScope
{
    /// <summary>How many stages this process can run at once now (the gpu-agent: GPUs x tasks per GPU); 0 takes no work.</summary>
    int Capacity { get; }

    /// <summary>Runs <paramref name="stage"/> inside the scope: acquires what it needs (waiting while nothing fits), releases it however the stage ends.</summary>
    Task<T> RunAsync<T>(TaskMessage task, Func<CancellationToken, Task<T>> stage, CancellationToken ct);
}
