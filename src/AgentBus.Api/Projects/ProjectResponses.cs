using System.Text.Json;

namespace AgentBus.Api.Projects;

// The JSON bodies these endpoints answer with (snake_case on the wire).
public sealed record ProjectBudget(Guid ProjectId, decimal? BudgetUsd);
public sealed record ProjectCreated(Guid ProjectId, Guid JobId, string Status);
public sealed record JobSummary(Guid JobId, string Status, string? Stage, DateTime CreatedAt, DateTime UpdatedAt, DateTime? CompletedAt);
public sealed record ProjectListItem(Guid ProjectId, string Name, decimal? BudgetUsd, DateTime CreatedAt, JobSummary? LatestJob);
/// <summary>
/// A page of projects, newest first; NextBefore is the before= of the next page (null on the last
/// page). Total counts every project, on the first page only (null on pages after it).
/// </summary>
public sealed record ProjectList(IReadOnlyList<ProjectListItem> Items, int Limit, Guid? NextBefore, long? Total);
public sealed record ProjectDetail(Guid ProjectId, string Name, string Requirements, JsonElement Metadata, decimal? BudgetUsd,
    DateTime CreatedAt, DateTime UpdatedAt, Jobs.JobResponse? LatestJob);
public sealed record JobStarted(Guid ProjectId, Guid JobId, string Status);
