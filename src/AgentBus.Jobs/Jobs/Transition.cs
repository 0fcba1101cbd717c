namespace AgentBus.Jobs;

/// <summary>How an operator action went: done, no such job, or not allowed in the job's state.</summary>
public enum TransitionOutcome { Done, NotFound, Conflict }

/// <summary>The result of an operator action: Conflict carries the status that did not fit.</summary>
public sealed record Transition(TransitionOutcome Outcome, string? Status = null);
