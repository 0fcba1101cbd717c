namespace AgentBus.Store;

/// <summary>What one retention sweep deleted.</summary>
public sealed record RetentionSwept(long JobEvents, long ArtifactVersions, long DeadLetters, long WebhookDeliveries);
