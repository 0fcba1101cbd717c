using System.Security.Claims;
using System.Text;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.AspNetCore.Authorization;
using Microsoft.IdentityModel.Tokens;

namespace AgentBus.Api.Security;

public static class Authentication
{
    private const string Selector = "ApiKeyOrBearer";

    /// <summary>
    /// API keys (X-Api-Key) and JWTs (Authorization: Bearer) on every route: a policy scheme picks
    /// the key handler when the header is there, else the bearer handler. One policy per role.
    /// </summary>
    public static IServiceCollection AddAgentBusAuth(this IServiceCollection services, IConfiguration configuration, IHostEnvironment environment)
    {
        var auth = configuration.GetSection(AuthOptions.Section).Get<AuthOptions>() ?? new();
        if (Problems(auth, environment.IsDevelopment()).FirstOrDefault() is { } problem)
        {
            throw new InvalidOperationException(problem);
        }
        services.AddOptions<AuthOptions>().BindConfiguration(AuthOptions.Section);
        services.AddSingleton<ApiKeyStore>();
        services.AddSingleton<IAuthorizationMiddlewareResultHandler, AuthProblemResultHandler>();

        services.AddAuthentication(Selector)
            .AddPolicyScheme(Selector, "API key or bearer token", o => o.ForwardDefaultSelector = context =>
                context.Request.Headers.ContainsKey(ApiKeyAuthenticationHandler.Header) ? ApiKeyAuthenticationHandler.SchemeName : JwtBearerDefaults.AuthenticationScheme)
            .AddScheme<Microsoft.AspNetCore.Authentication.AuthenticationSchemeOptions, ApiKeyAuthenticationHandler>(ApiKeyAuthenticationHandler.SchemeName, null)
            .AddJwtBearer(o => ConfigureJwt(o, auth.Jwt));

        services.AddAuthorizationBuilder()
            // Every endpoint needs a caller unless it says otherwise: the probes, /metrics and the
            // API's own description are marked AllowAnonymous where they are mapped. Requests that
            // match no endpoint are refused too, so a stranger learns nothing about the routes.
            .SetFallbackPolicy(new AuthorizationPolicyBuilder().RequireAuthenticatedUser().Build())
            .AddPolicy(Roles.Viewer, p => p.RequireRole(Roles.AtLeast(Roles.Viewer)))
            .AddPolicy(Roles.Operator, p => p.RequireRole(Roles.AtLeast(Roles.Operator)))
            .AddPolicy(Roles.Admin, p => p.RequireRole(Roles.AtLeast(Roles.Admin)));
        return services;
    }

    /// <summary>Settings refused at start-up, first problem first.</summary>
    public static IEnumerable<string> Problems(AuthOptions auth, bool development)
    {
        if (auth.AdminApiKey is { Length: > 0 and < 16 })
        {
            yield return $"{AuthOptions.Section}:AdminApiKey must be at least 16 characters.";
        }
        if (auth.KeyCacheDuration <= TimeSpan.Zero || auth.KeyCacheDuration > TimeSpan.FromSeconds(30))
        {
            yield return $"{AuthOptions.Section}:KeyCacheDuration must be above 0 and at most 30 s.";
        }
        if (!string.IsNullOrEmpty(auth.Jwt.SigningKey) && Encoding.UTF8.GetByteCount(auth.Jwt.SigningKey) < 32)
        {
            // RFC 7518: an HS256 key is at least as long as the hash, 256 bits.
            yield return $"{AuthOptions.Section}:Jwt:SigningKey must be at least 32 bytes (256 bits) for HS256.";
        }
        if (!development && auth.Jwt.Authority is { } authority && !string.IsNullOrWhiteSpace(authority)
            && !authority.StartsWith("https://", StringComparison.OrdinalIgnoreCase))
        {
            yield return $"{AuthOptions.Section}:Jwt:Authority must be an https:// URL outside Development: its signing keys are fetched from it.";
        }
    }

    private static void ConfigureJwt(JwtBearerOptions o, JwtOptions jwt)
    {
        // Claims keep their JWT names (sub, role), not the long WS-* URIs.
        o.MapInboundClaims = false;
        // WWW-Authenticate says invalid_token, not which check failed.
        o.IncludeErrorDetails = false;
        o.TokenValidationParameters = new TokenValidationParameters
        {
            NameClaimType = "sub",
            RoleClaimType = jwt.RoleClaimType,
            ValidAudience = jwt.Audience,
            ValidateAudience = true,
            ValidateIssuer = true,
            ValidateLifetime = true,
            RequireExpirationTime = true,
            // alg "none" and unsigned tokens never pass (the library's default, stated).
            RequireSignedTokens = true,
            ClockSkew = TimeSpan.FromSeconds(30),
        };
        if (!jwt.Configured)
        {
            // No issuer configured: every bearer token fails validation (no key can match).
            o.TokenValidationParameters.ValidIssuer = null;
            o.TokenValidationParameters.IssuerSigningKeys = [];
        }
        else if (!string.IsNullOrWhiteSpace(jwt.Authority))
        {
            o.Authority = jwt.Authority;
            o.Audience = jwt.Audience;
            o.RequireHttpsMetadata = jwt.Authority.StartsWith("https://", StringComparison.OrdinalIgnoreCase);
        }
        else
        {
            o.TokenValidationParameters.ValidIssuer = jwt.Issuer;
            o.TokenValidationParameters.IssuerSigningKey = new SymmetricSecurityKey(Encoding.UTF8.GetBytes(jwt.SigningKey!));
            o.TokenValidationParameters.ValidAlgorithms = [SecurityAlgorithms.HmacSha256];
        }
        o.Events = new JwtBearerEvents
        {
            OnTokenValidated = context =>
            {
                if (context.Principal?.FindFirst("sub")?.Value is not { Length: > 0 } subject)
                {
                    context.Fail("The token has no subject.");
                    return Task.CompletedTask;
                }
                // The rate limiter's partition and created_by of keys this caller creates: ours alone,
                // so a token carrying its own copy cannot choose its bucket or its name.
                foreach (var identity in context.Principal.Identities)
                {
                    foreach (var forged in identity.FindAll(Roles.CallerClaim).ToList())
                    {
                        identity.RemoveClaim(forged);
                    }
                }
                ((ClaimsIdentity)context.Principal.Identity!).AddClaim(new Claim(Roles.CallerClaim, "jwt:" + subject));
                return Task.CompletedTask;
            },
        };
    }
}
