namespace AgentBus.Api.Queues;

// The JSON bodies these endpoints answer with (snake_case on the wire).
/// <summary>A dead-lettered task; JobId and Stage are null for an entry that was not a task.</summary>
public sealed record DeadLetterItem(string Queue, string EntryId, Guid? JobId, Guid? ProjectId, string? Stage, string? Error, DateTimeOffset? DeadLetteredAt);
public sealed record DeadLetterList(IReadOnlyList<DeadLetterItem> Items);
public sealed record Requeued(string Queue, string EntryId, Guid JobId, string Stage, string Status);
