namespace AgentBus.Jobs;

public enum TransitionOutcome { Done, NotFound, Conflict }

/// <summary>The result of an operator action: Conflict carries the status that did not fit.</summary>
public sealed record Transition(TransitionOutcome Outcome, string? Status = null);
