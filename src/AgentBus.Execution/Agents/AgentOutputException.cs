namespace AgentBus.Agents;

/// <summary>An agent's answer that cannot be used; the stage is retried.</summary>
public sealed class AgentOutputException(string message) : Exception(message);
