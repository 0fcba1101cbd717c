namespace AgentBus.Jobs;

/// <summary>A job as the job list shows it: its project's name and what it has cost so far.</summary>
public sealed class JobListRow
{
    public Guid JobId { get; init; }
    public Guid ProjectId { get; init; }
    public string ProjectName { get; init; } = "";
    public string Status { get; init; } = "";
    public string? Stage { get; init; }
    public DateTime CreatedAt { get; init; }
    public DateTime UpdatedAt { get; init; }
    public DateTime? CompletedAt { get; init; }

    /// <summary>What the job's priced model calls cost; null when any call had no price.</summary>
    public decimal? CostUsd { get; init; }
}
