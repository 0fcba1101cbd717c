using AgentBus.Spend;

namespace AgentBus.Api;

public sealed record UsageLine(string? AgentType, string? Provider, string? Model, long Calls, long InputTokens, long OutputTokens,
    long CacheReadTokens, long CacheWriteTokens, decimal? CostUsd, long UnpricedCalls);

/// <summary>
/// GET .../usage: tokens by type, calls and cost, broken down by agent and by model. cost_usd is
/// null when any call's model had no price; known_cost_usd is what the priced calls cost.
/// </summary>
public sealed record UsageResponse(long InputTokens, long OutputTokens, long CacheReadTokens, long CacheWriteTokens, long Calls,
    decimal? CostUsd, decimal KnownCostUsd, long UnpricedCalls, decimal? BudgetUsd, IReadOnlyList<UsageLine> ByAgent, IReadOnlyList<UsageLine> ByModel)
{
    public static UsageResponse From((UsageTotals Total, IReadOnlyList<UsageTotals> ByAgent, IReadOnlyList<UsageTotals> ByModel) usage, decimal? budgetUsd)
    {
        static UsageLine Line(UsageTotals t) => new(t.AgentType, t.Provider, t.Model, t.Calls, t.InputTokens, t.OutputTokens,
            t.CacheReadTokens, t.CacheWriteTokens, t.CostUsd, t.UnpricedCalls);
        var total = usage.Total;
        return new UsageResponse(total.InputTokens, total.OutputTokens, total.CacheReadTokens, total.CacheWriteTokens, total.Calls,
            total.CostUsd, total.KnownCostUsd, total.UnpricedCalls, budgetUsd, usage.ByAgent.Select(Line).ToList(), usage.ByModel.Select(Line).ToList());
    }
}
