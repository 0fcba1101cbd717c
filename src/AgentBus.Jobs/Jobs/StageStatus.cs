namespace AgentBus.Jobs;

/// <summary>A stage run's status as stored in stage_runs.status.</summary>
public static class StageStatus
{
    public const string Pending = "pending";
    public const string Queued = "queued";
    public const string Running = "running";
    public const string Completed = "completed";
    public const string Failed = "failed";
    public const string Canceled = "canceled";
}
