namespace AgentBus.Store;

/// <summary>
/// How long what would otherwise grow forever is kept: the events of a finished job (counted from
/// its end and from each event's time), artifact versions that a later version of the same job
/// and type superseded, dead letters, and webhook deliveries delivered or dead (counted from their
/// end). Deletes go <see cref="BatchSize"/> rows at a time.
/// </summary>
public sealed record RetentionPolicy(TimeSpan JobEvents, TimeSpan ArtifactVersions, TimeSpan DeadLetters, TimeSpan WebhookDeliveries, int BatchSize);
