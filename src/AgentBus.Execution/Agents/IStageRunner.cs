using AgentBus.Jobs;

namespace AgentBus.Agents;

/// <summary>
/// What a consumer calls to produce a stage's artifact. <see cref="StageRunner"/> is the product's;
/// the benchmark swaps in one that does nothing, to measure the queue and the state machine alone.
/// </summary>
public interface IStageRunner
{
    Task<StageOutput> RunAsync(StageWork work, Guid taskId, CancellationToken ct);
}
