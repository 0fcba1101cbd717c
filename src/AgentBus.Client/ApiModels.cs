using System.Text.Json;
using System.Text.Json.Serialization;

namespace AgentBus.Client;

// What the api answers, as its clients read it (snake_case on the wire). The api's OpenAPI document
// (/openapi/v1.json) is the reference; fields no client shows are left out.
public sealed record Me(string Caller, string Role);

public sealed record JobListItem(Guid JobId, Guid ProjectId, string ProjectName, string Status, string? Stage, decimal? CostUsd,
    DateTime CreatedAt, DateTime UpdatedAt, DateTime? CompletedAt);
public sealed record JobList(IReadOnlyList<JobListItem> Items, int Limit, Guid? NextBefore);

public sealed record StageInfo(string Stage, string AgentType, string Status, int Attempts, string? Error,
    DateTime? QueuedAt, DateTime? StartedAt, DateTime? CompletedAt);
public sealed record JobError(string? Code, string? Message);
public sealed record JobRouting(string Queue, bool RequiresGpu, double Confidence, IReadOnlyList<string> Reasons, string? FallbackReason);
public sealed record Job(Guid JobId, Guid ProjectId, string Status, string? Stage, JobError? Error,
    DateTime CreatedAt, DateTime UpdatedAt, DateTime? StartedAt, DateTime? CompletedAt, IReadOnlyList<StageInfo> Stages, JobRouting? Routing);

public sealed record JobEvent(Guid JobId, int Seq, string Type, string? Stage, JsonElement Data, DateTimeOffset CreatedAt)
{
    /// <summary>Who acted (key:&lt;id&gt;, jwt:&lt;sub&gt;), for the operator actions that record it.</summary>
    [JsonIgnore]
    public string? By => Data.ValueKind == JsonValueKind.Object && Data.TryGetProperty("by", out var by) && by.ValueKind == JsonValueKind.String ? by.GetString() : null;

    /// <summary>A text field of the event's data (notes, reason, error), when it has one.</summary>
    public string? Text(string name) =>
        Data.ValueKind == JsonValueKind.Object && Data.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
}

public sealed record ProjectCreated(Guid ProjectId, Guid JobId, string Status);
public sealed record JobSummary(Guid JobId, string Status, string? Stage, DateTime CreatedAt, DateTime UpdatedAt, DateTime? CompletedAt);
public sealed record Project(Guid ProjectId, string Name, string Requirements, decimal? BudgetUsd, DateTime CreatedAt, DateTime UpdatedAt);
public sealed record ProjectListItem(Guid ProjectId, string Name, decimal? BudgetUsd, DateTime CreatedAt, JobSummary? LatestJob);
public sealed record ProjectList(IReadOnlyList<ProjectListItem> Items, int Limit, Guid? NextBefore, long? Total);

public sealed record ArtifactListItem(string Type, int Version, string ContentType, int SizeBytes, DateTime CreatedAt);
public sealed record Artifact(string Type, int Version, string Content, string ContentType, DateTime CreatedAt);

public sealed record UsageLine(string? AgentType, string? Provider, string? Model, long Calls, long InputTokens, long OutputTokens,
    decimal? CostUsd, long UnpricedCalls, long CacheReadTokens = 0, long CacheWriteTokens = 0);
public sealed record Usage(long InputTokens, long OutputTokens, long Calls, decimal? CostUsd, decimal KnownCostUsd, long UnpricedCalls,
    decimal? BudgetUsd, IReadOnlyList<UsageLine> ByAgent, IReadOnlyList<UsageLine> ByModel, long CacheReadTokens = 0, long CacheWriteTokens = 0);

public sealed record KeyCreated(Guid Id, string Name, string Role, string Prefix, string Key, DateTime CreatedAt);
public sealed record KeyListItem(Guid Id, string Name, string Role, string Prefix, DateTime CreatedAt, string CreatedBy, DateTime? RevokedAt, DateTime? LastUsedAt);
public sealed record KeyList(IReadOnlyList<KeyListItem> Items, long Total, int Limit, int Offset);

public sealed record DeadLetter(string Queue, string EntryId, Guid? JobId, Guid? ProjectId, string? Stage, string? Error, DateTimeOffset? DeadLetteredAt);
public sealed record DeadLetterList(IReadOnlyList<DeadLetter> Items);

/// <summary>A job action's answer: the job's status after it.</summary>
public sealed record JobTransition(Guid JobId, string Status);
