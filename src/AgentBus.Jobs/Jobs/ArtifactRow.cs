namespace AgentBus.Jobs;

/// <summary>A row of artifacts as stored; Dapper maps the snake_case columns onto it.</summary>
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
