namespace AgentBus.Jobs;

/// <summary>Everything a stage's agent needs, read when the stage starts.</summary>
public sealed record StageWork(
    JobRow Job, ProjectRow Project, StageDefinition Stage, int Attempt, string? Notes,
    IReadOnlyDictionary<string, ArtifactRow> Inputs, ArtifactRow? PreviousVersion);
