namespace AgentBus.Queue;

/// <summary>
/// A task that failed for good, as its queue's dead-letter stream keeps it: the task (null when the
/// entry was not a task at all), the error it failed with and when.
/// </summary>
public sealed record DeadLetter(string Queue, string EntryId, TaskMessage? Task, string? Error, DateTimeOffset? DeadLetteredAt);
