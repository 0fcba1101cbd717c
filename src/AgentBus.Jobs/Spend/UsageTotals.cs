namespace AgentBus.Spend;

/// <summary>Token and cost totals of a job or project, overall and by agent type and model.</summary>
public sealed class UsageTotals
{
    public string? AgentType { get; init; }
    public string? Provider { get; init; }
    public string? Model { get; init; }
    public long Calls { get; init; }
    public long InputTokens { get; init; }
    public long OutputTokens { get; init; }
    public long CacheReadTokens { get; init; }
    public long CacheWriteTokens { get; init; }
    public long UnpricedCalls { get; init; }
    public decimal KnownCostUsd { get; init; }

    /// <summary>Null when any call had no price: a total that silently left them out would be wrong.</summary>
    public decimal? CostUsd => UnpricedCalls > 0 ? null : KnownCostUsd;
}
