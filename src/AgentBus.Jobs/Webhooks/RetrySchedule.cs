namespace AgentBus.Webhooks;

/// <summary>Exponential backoff with jitter, bounded by a retry window counted from the first attempt.</summary>
public readonly record struct RetrySchedule(TimeSpan First, TimeSpan Max, TimeSpan RetryFor, double Jitter)
{
    /// <summary>The delay after failed attempt number <paramref name="attempt"/> (1 for the first), before jitter.</summary>
    public TimeSpan BaseDelay(int attempt)
    {
        // Doubling stops at Max long before it overflows (2^30 seconds is 34 years).
        var doublings = Math.Clamp(attempt - 1, 0, 30);
        var delay = First.TotalSeconds * Math.Pow(2, doublings);
        return TimeSpan.FromSeconds(Math.Min(delay, Max.TotalSeconds));
    }

    /// <summary>The delay after failed attempt <paramref name="attempt"/>, spread by ±Jitter with <paramref name="random"/> in [0, 1).</summary>
    public TimeSpan Delay(int attempt, double random) => BaseDelay(attempt) * (1 + Jitter * (2 * random - 1));

    /// <summary>A failure this long after the first attempt is the last: the delivery goes dead.</summary>
    public bool GivesUp(TimeSpan sinceFirstAttempt) => sinceFirstAttempt >= RetryFor;
}
