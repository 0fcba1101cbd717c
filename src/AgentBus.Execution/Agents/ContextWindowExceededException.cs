namespace AgentBus.Agents;

/// <summary>A prompt that does not fit the model's context window even once cut as far as it may be: retrying cannot help.</summary>
public sealed class ContextWindowExceededException(string message) : Exception(message);
