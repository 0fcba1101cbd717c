namespace AgentBus.Api.Security;

/// <summary>AgentBus:RateLimits: token buckets per authenticated caller and per client address.</summary>
public sealed class RateLimitOptions
{
    public const string Section = "AgentBus:RateLimits";

    public Bucket PerKey { get; set; } = new() { PermitsPerSecond = 50, Burst = 100 };
    public Bucket PerAddress { get; set; } = new() { PermitsPerSecond = 20, Burst = 40 };

    public sealed class Bucket
    {
        public int PermitsPerSecond { get; set; }
        public int Burst { get; set; }

        public bool Valid => PermitsPerSecond >= 1 && Burst >= 1;
    }
}
