namespace AgentBus.Spend;

/// <summary>One model call as recorded in llm_calls; a null cost means the model has no price.</summary>
public sealed record LlmCallRecord(
    string AgentType, string Provider, string Model, long InputTokens, long OutputTokens,
    long CacheReadTokens, long CacheWriteTokens, int LatencyMs, decimal? CostUsd);
