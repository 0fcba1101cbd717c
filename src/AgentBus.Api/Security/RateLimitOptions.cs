namespace AgentBus.Api.Security;

/// <summary>AgentBus:RateLimits: token buckets per authenticated caller and per client address.</summary>
public sealed class RateLimitOptions
{
    public const string Section = "AgentBus:RateLimits";

    public Bucket PerKey { get; set; } = new() { PermitsPerSecond = 50, Burst = 100 };
    public Bucket PerAddress { get; set; } = new() { PermitsPerSecond = 20, Burst = 40 };

    /// <summary>
    /// Lookups of API keys not in the cache, per client address (ApiKeyStore), taken before the
    /// lookup. Higher than PerAddress: the web app asks for all its signed-in people from one address.
    /// </summary>
    public Bucket KeyLookups { get; set; } = new() { PermitsPerSecond = 100, Burst = 200 };

    public sealed class Bucket
    {
        public int PermitsPerSecond { get; set; }
        public int Burst { get; set; }

        public bool Valid => PermitsPerSecond >= 1 && Burst >= 1;
    }
}
