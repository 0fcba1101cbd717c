namespace AgentBus.Jobs;

/// <summary>An artifact without its content, for listings.</summary>
public sealed class ArtifactSummary
{
    public string Type { get; init; } = "";
    public int Version { get; init; }
    public string ContentType { get; init; } = "";
    public int Size { get; init; }
    public DateTime CreatedAt { get; init; }
}
