namespace AgentBus.Jobs;

// Rows as stored; Dapper maps the snake_case columns onto these.

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
}

public sealed class ArtifactRow
{
    /// <summary>Read only where rows of several jobs come back together.</summary>
    public Guid JobId { get; init; }
    public string Type { get; init; } = "";
    public int Version { get; init; }
    public string Content { get; init; } = "";
    public string ContentType { get; init; } = "";
    public DateTime CreatedAt { get; init; }
}

/// <summary>An artifact without its content, for listings.</summary>
public sealed class ArtifactSummary
{
    public string Type { get; init; } = "";
    public int Version { get; init; }
    public string ContentType { get; init; } = "";
    public int Size { get; init; }
    public DateTime CreatedAt { get; init; }
}

/// <summary>Everything a stage's agent needs, read when the stage starts.</summary>
public sealed record StageWork(
    JobRow Job, ProjectRow Project, StageDefinition Stage, int Attempt, string? Notes,
    IReadOnlyDictionary<string, ArtifactRow> Inputs, ArtifactRow? PreviousVersion);

/// <summary>What a stage's task produced, to be committed.</summary>
public sealed record StageResult(Queue.TaskMessage Task, string Content);

/// <summary>One model call as recorded in llm_calls; a null cost means the model has no price.</summary>
public sealed record LlmCallRecord(
    string AgentType, string Provider, string Model, long InputTokens, long OutputTokens,
    long CacheReadTokens, long CacheWriteTokens, int LatencyMs, decimal? CostUsd);

/// <summary>Token and cost totals of a job or project, overall and by agent type and model.</summary>
public sealed class UsageTotals
{
    public string? AgentType { get; init; }
    public string? Provider { get; init; }
    public string? Model { get; init; }
    public long Calls { get; init; }
    public long InputTokens { get; init; }
    public long OutputTokens { get; init; }
    public long CacheReadTokens { get; init; }
    public long CacheWriteTokens { get; init; }
    public long UnpricedCalls { get; init; }
    public decimal KnownCostUsd { get; init; }

    /// <summary>Null when any call had no price: a total that silently left them out would be wrong.</summary>
    public decimal? CostUsd => UnpricedCalls > 0 ? null : KnownCostUsd;
}

public enum TransitionOutcome { Done, NotFound, Conflict }

/// <summary>The result of an operator action: Conflict carries the status that did not fit.</summary>
public sealed record Transition(TransitionOutcome Outcome, string? Status = null);

/// <summary>A job as GET /api/jobs/{id} shows it: the row, its stage runs and its routing.</summary>
public sealed record JobDetail(JobRow Job, IReadOnlyList<StageRunRow> Stages, Gpu.JobRouting? Routing);
