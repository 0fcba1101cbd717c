namespace AgentBus.Jobs;

/// <summary>
/// A stage's artifact and what happened while it was made (a repaired answer, a prompt cut to fit,
/// requirements left untraced or uncovered): each note becomes a job event committed with the artifact.
/// </summary>
public sealed record StageOutput(string Content, IReadOnlyList<StageNote> Notes);

/// <summary>A job event of type <paramref name="Type"/> (see JobEventTypes) with its payload.</summary>
public sealed record StageNote(string Type, object Payload);
