namespace AgentBus.Api.Security;

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
