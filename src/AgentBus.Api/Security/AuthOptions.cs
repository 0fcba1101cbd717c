namespace AgentBus.Api.Security;

/// <summary>AgentBus:Auth: the bootstrap admin key and how bearer tokens are validated.</summary>
public sealed class AuthOptions
{
    public const string Section = "AgentBus:Auth";

    /// <summary>The bootstrap admin key (configuration, so it cannot be revoked through the API). Empty: none.</summary>
    public string? AdminApiKey { get; set; }

    /// <summary>How long a validated API key is trusted before Postgres is asked again (other replicas see a revocation within this).</summary>
    public TimeSpan KeyCacheDuration { get; set; } = TimeSpan.FromSeconds(15);

    public JwtOptions Jwt { get; set; } = new();
}
