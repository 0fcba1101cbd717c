namespace AgentBus.Llm;

/// <summary>USD per million tokens. Input is uncached input; cache reads and writes have their own prices.</summary>
public sealed record ModelPrice
{
    public decimal Input { get; init; }
    public decimal Output { get; init; }
    public decimal CacheRead { get; init; }
    public decimal CacheWrite { get; init; }

    public decimal Cost(LlmUsage usage) =>
        (usage.InputTokens * Input + usage.OutputTokens * Output + usage.CacheReadTokens * CacheRead + usage.CacheWriteTokens * CacheWrite) / 1_000_000m;
}
