namespace AgentBus.Queue;

/// <summary>Queue settings, bound from the "AgentBus:Queue" section.</summary>
public sealed class QueueOptions
{
    public const string Section = "AgentBus:Queue";

    /// <summary>How long a delivered task may go without a lease renewal before another consumer reclaims it.</summary>
    public TimeSpan Lease { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Attempts per stage before the task goes to the dead-letter stream and the job fails.</summary>
    public int MaxAttempts { get; set; } = 4;

    public TimeSpan RetryBaseDelay { get; set; } = TimeSpan.FromSeconds(1);
    public TimeSpan RetryMaxDelay { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Exponential backoff with full jitter: a random delay up to base * 2^(attempt-1), capped.</summary>
    public TimeSpan RetryDelay(int attempt)
    {
        var ceiling = Math.Min(RetryMaxDelay.TotalMilliseconds, RetryBaseDelay.TotalMilliseconds * Math.Pow(2, Math.Max(0, attempt - 1)));
        return TimeSpan.FromMilliseconds(ceiling / 2 + Random.Shared.NextDouble() * ceiling / 2);
    }
}
