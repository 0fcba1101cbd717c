namespace AgentBus.Agents;

/// <summary>
/// The stage's attempt is no longer the one running (another consumer took the task over): no
/// further model call is made for it and nothing it produced is recorded.
/// </summary>
public sealed class AttemptSupersededException(string message) : Exception(message);
