namespace AgentBus.Llm;

/// <summary>A fault the offline provider was configured to simulate.</summary>
public sealed class OfflineProviderException(string message) : Exception(message);
