using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;
using Microsoft.Extensions.AI;
using Microsoft.ML.Tokenizers;

namespace AgentBus.Llm;

/// <summary>A fault the offline provider was configured to simulate.</summary>
public sealed class OfflineProviderException(string message) : Exception(message);
