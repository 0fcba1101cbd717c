namespace AgentBus.Spend;

/// <summary>
/// Read before each model call: whether the stage's attempt is still the one running, and, when
/// asked for, its project's spend so far and everyone's spend today (UTC), in US dollars.
/// </summary>
public sealed record CallAllowance(bool AttemptCurrent, decimal? ProjectSpendUsd, decimal? TodaySpendUsd);
