namespace AgentBus.Worker.Recovery;

/// <summary>Settings of the stage reconciler, bound from "AgentBus:Reconciler".</summary>
public sealed class ReconcilerOptions
{
    public const string Section = "AgentBus:Reconciler";

    public TimeSpan Interval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>A stage run must have been queued or started at least this long ago to be looked at.</summary>
    public TimeSpan StaleAfter { get; set; } = TimeSpan.FromMinutes(1);

    public int BatchSize { get; set; } = 200;
}
