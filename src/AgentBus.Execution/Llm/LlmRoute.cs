using Microsoft.Extensions.AI;

namespace AgentBus.Llm;

/// <summary>The client, provider and model an agent type calls.</summary>
public sealed record LlmRoute(IChatClient Client, string Provider, string Model);
