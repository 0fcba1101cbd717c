using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;
using Microsoft.Extensions.AI;
using Microsoft.ML.Tokenizers;

namespace AgentBus.Llm;

/// <summary>
/// The built-in provider "offline": deterministic, no network. It writes each agent's
/// deliverable from the prompt's real inputs (<see cref="OfflineWriter"/>) and reports usage
/// counted with the o200k tokenizer, after a configurable simulated latency.
/// </summary>
public sealed partial class OfflineChatClient(OfflineOptions offline) : IChatClient
{
    public const string ProviderName = "offline";
    public const string ModelName = "offline-writer-1";

    private static readonly Lazy<Tokenizer> Tokens = new(() => TiktokenTokenizer.CreateForEncoding("o200k_base"));
    private readonly ChatClientMetadata _metadata = new(ProviderName, null, ModelName);

    public static int CountTokens(string text) => Tokens.Value.CountTokens(text);

    public async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        var list = messages as IList<ChatMessage> ?? messages.ToList();
        // The prompt is the first user message (later ones are repair turns); it names the agent.
        var system = string.Join('\n', list.Where(m => m.Role == ChatRole.System).Select(m => m.Text));
        var user = list.FirstOrDefault(m => m.Role == ChatRole.User)?.Text ?? "";
        var agentType = AgentLine().Match(system + "\n" + user) is { Success: true } m ? m.Groups[1].Value
            : throw new ArgumentException("The offline provider needs the prompt to name the agent ('You are the <agent_type>.').");
        var latency = offline.LatencyByAgent.GetValueOrDefault(agentType, offline.Latency);
        if (latency > TimeSpan.Zero)
        {
            await Task.Delay(latency, cancellationToken);
        }
        if (offline.FailAgents.Contains(agentType))
        {
            throw new OfflineProviderException($"simulated provider failure for {agentType} (AgentBus:Llm:Offline:FailAgents)");
        }
        var content = OfflineWriter.Write(agentType, user);
        return new ChatResponse(new ChatMessage(ChatRole.Assistant, content))
        {
            ModelId = options?.ModelId ?? ModelName,
            FinishReason = ChatFinishReason.Stop,
            Usage = new UsageDetails
            {
                InputTokenCount = list.Sum(message => CountTokens(message.Text)),
                OutputTokenCount = CountTokens(content),
            },
        };
    }

    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        foreach (var update in (await GetResponseAsync(messages, options, cancellationToken)).ToChatResponseUpdates())
        {
            yield return update;
        }
    }

    public object? GetService(Type serviceType, object? serviceKey = null) =>
        serviceKey is null && serviceType == typeof(ChatClientMetadata) ? _metadata
        : serviceKey is null && serviceType.IsInstanceOfType(this) ? this
        : null;

    public void Dispose()
    {
    }

    [GeneratedRegex(@"You are the ([a-z_]+)\.")]
    private static partial Regex AgentLine();
}
