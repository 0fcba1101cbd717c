namespace AgentBus.Jobs;

/// <summary>A row of projects as stored; Dapper maps the snake_case columns onto it.</summary>
public sealed class ProjectRow
{
    public Guid ProjectId { get; init; }
    public string Name { get; init; } = "";
    public string Requirements { get; init; } = "";
    public string Metadata { get; init; } = "{}";
    public decimal? BudgetUsd { get; init; }
    public DateTime CreatedAt { get; init; }
    public DateTime UpdatedAt { get; init; }
}
