using System.ClientModel;
using System.ClientModel.Primitives;
using System.Collections.Concurrent;
using Anthropic;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OpenAI;

namespace AgentBus.Llm;

/// <summary>The client, provider and model an agent type calls.</summary>
public sealed record LlmRoute(IChatClient Client, string Provider, string Model);
