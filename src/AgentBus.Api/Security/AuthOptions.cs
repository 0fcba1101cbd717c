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

/// <summary>
/// AgentBus:Auth:Jwt. Either Authority (an OIDC issuer; keys come from its discovery document) or
/// Issuer + SigningKey (HMAC-SHA256, for development and tests). Audience is required with either.
/// </summary>
public sealed class JwtOptions
{
    public string? Authority { get; set; }
    public string? Issuer { get; set; }
    public string? Audience { get; set; }
    public string? SigningKey { get; set; }

    /// <summary>The claim whose values are roles: "role" by default, "roles" for e.g. Entra ID app roles.</summary>
    public string RoleClaimType { get; set; } = "role";

    public bool Configured => !string.IsNullOrWhiteSpace(Audience) &&
        (!string.IsNullOrWhiteSpace(Authority) || (!string.IsNullOrWhiteSpace(Issuer) && !string.IsNullOrWhiteSpace(SigningKey)));
}
