namespace AgentBus.Jobs;

/// <summary>
/// A project as the project list shows it, with its latest job when it has one (the job columns
/// are null otherwise): only these columns are read, never the requirements or the metadata.
/// </summary>
public sealed class ProjectListRow
{
    public Guid ProjectId { get; init; }
    public string Name { get; init; } = "";
    public decimal? BudgetUsd { get; init; }
    public DateTime CreatedAt { get; init; }
    public Guid? JobId { get; init; }
    public string? JobStatus { get; init; }
    public string? JobStage { get; init; }
    public DateTime? JobCreatedAt { get; init; }
    public DateTime? JobUpdatedAt { get; init; }
    public DateTime? JobCompletedAt { get; init; }
}
