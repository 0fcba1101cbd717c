namespace AgentBus.Jobs;

/// <summary>A row of stage_runs as stored; Dapper maps the snake_case columns onto it.</summary>
public sealed class StageRunRow
{
    /// <summary>Read only where rows of several jobs come back together.</summary>
    public Guid JobId { get; init; }
    public string Stage { get; init; } = "";
    public string AgentType { get; init; } = "";
    public string Status { get; init; } = "";
    public Guid? TaskId { get; init; }
    public int Attempts { get; init; }
    public string? Notes { get; init; }
    public string? Error { get; init; }
    public DateTime? QueuedAt { get; init; }
    public DateTime? StartedAt { get; init; }
    public DateTime? CompletedAt { get; init; }
    /// <summary>"queue/entry id" of the delivery running the current attempt; read by the stage ledger only.</summary>
    public string? LeaseEntry { get; init; }
}
