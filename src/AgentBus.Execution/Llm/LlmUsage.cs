using Microsoft.Extensions.AI;

namespace AgentBus.Llm;

/// <summary>
/// Tokens of one call as the provider billed them: input is uncached input (Anthropic reports it
/// so; OpenAI's prompt tokens include the cached ones, which are moved to cache_read).
/// </summary>
public sealed record LlmUsage(long InputTokens, long OutputTokens, long CacheReadTokens, long CacheWriteTokens)
{
    public static LlmUsage From(ChatResponse response) => response.RawRepresentation switch
    {
        Anthropic.Models.Messages.Message { Usage: var u } => new(u.InputTokens, u.OutputTokens, u.CacheReadInputTokens ?? 0, u.CacheCreationInputTokens ?? 0),
        OpenAI.Chat.ChatCompletion { Usage: { } u } => new(
            u.InputTokenCount - (u.InputTokenDetails?.CachedTokenCount ?? 0), u.OutputTokenCount, u.InputTokenDetails?.CachedTokenCount ?? 0, 0),
        _ => new((response.Usage?.InputTokenCount ?? 0) - (response.Usage?.CachedInputTokenCount ?? 0), response.Usage?.OutputTokenCount ?? 0,
            response.Usage?.CachedInputTokenCount ?? 0, 0),
    };
}
