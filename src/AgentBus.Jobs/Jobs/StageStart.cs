namespace AgentBus.Jobs;

/// <summary>
/// What beginning a stage found: <see cref="Work"/> to run under a new attempt; or, when
/// <see cref="HeldBy"/> is set, the attempt running now holds that queue entry ("queue/entry id"),
/// so this delivery is a second copy of the task; or neither: nothing to run.
/// </summary>
public sealed record StageStart(StageWork? Work, string? HeldBy)
{
    public static readonly StageStart Nothing = new(null, null);
}
