namespace AgentBus.Jobs;

/// <summary>
/// Everything a stage's agent needs, read when the stage starts. <see cref="RunId"/> names this
/// attempt alone (its number can come again after a crash undoes the start that took it).
/// </summary>
public sealed record StageWork(
    JobRow Job, ProjectRow Project, StageDefinition Stage, int Attempt, string? Notes,
    IReadOnlyDictionary<string, ArtifactRow> Inputs, ArtifactRow? PreviousVersion)
{
    public Guid RunId { get; } = Guid.CreateVersion7();
}
