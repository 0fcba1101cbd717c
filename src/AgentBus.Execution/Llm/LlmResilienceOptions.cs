namespace AgentBus.Llm;

/// <summary>Per-call resilience: attempt timeout, retries with backoff that honour Retry-After, a breaker per provider.</summary>
public sealed class LlmResilienceOptions
{
    public TimeSpan AttemptTimeout { get; set; } = TimeSpan.FromMinutes(2);
    public TimeSpan TotalTimeout { get; set; } = TimeSpan.FromMinutes(6);
    public int MaxRetries { get; set; } = 4;
    public TimeSpan RetryBaseDelay { get; set; } = TimeSpan.FromSeconds(2);
    public TimeSpan BreakDuration { get; set; } = TimeSpan.FromSeconds(30);
}
