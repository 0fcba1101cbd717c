namespace AgentBus.Jobs;

/// <summary>A row of jobs as stored; Dapper maps the snake_case columns onto it.</summary>
public sealed class JobRow
{
    public Guid JobId { get; init; }
    public Guid ProjectId { get; init; }
    public string Status { get; init; } = "";
    public string? Stage { get; init; }
    public string? ErrorCode { get; init; }
    public string? ErrorMessage { get; init; }
    public DateTime CreatedAt { get; init; }
    public DateTime UpdatedAt { get; init; }
    public DateTime? StartedAt { get; init; }
    public DateTime? CompletedAt { get; init; }
}
