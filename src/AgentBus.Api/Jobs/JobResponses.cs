using AgentBus.Routing;

namespace AgentBus.Api.Jobs;

// The JSON bodies these endpoints answer with (snake_case on the wire).
public sealed record StageResponse(string Stage, string AgentType, string Status, int Attempts, string? Error,
    DateTime? QueuedAt, DateTime? StartedAt, DateTime? CompletedAt);
public sealed record JobError(string? Code, string? Message);
public sealed record JobResponse(Guid JobId, Guid ProjectId, string Status, string? Stage, JobError? Error,
    DateTime CreatedAt, DateTime UpdatedAt, DateTime? StartedAt, DateTime? CompletedAt, IReadOnlyList<StageResponse> Stages,
    JobRouting? Routing);
public sealed record ArtifactListItem(string Type, int Version, string ContentType, int SizeBytes, DateTime CreatedAt);
public sealed record ArtifactResponse(string Type, int Version, string Content, string ContentType, DateTime CreatedAt);
public sealed record JobStatusResponse(Guid JobId, string Status);
public sealed record JobListItem(Guid JobId, Guid ProjectId, string ProjectName, string Status, string? Stage, decimal? CostUsd,
    DateTime CreatedAt, DateTime UpdatedAt, DateTime? CompletedAt);

/// <summary>A page of jobs, newest first; NextBefore is the before= of the next page (null on the last page).</summary>
public sealed record JobList(IReadOnlyList<JobListItem> Items, int Limit, Guid? NextBefore);
