using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace AgentBus.Api.Security;

/// <summary>Authenticates the X-Api-Key header against the bootstrap key and the api_keys table.</summary>
public sealed class ApiKeyAuthenticationHandler(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger,
    UrlEncoder encoder, ApiKeyStore keys) : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "ApiKey";
    public const string Header = "X-Api-Key";

    /// <summary>Set on a request whose key was not looked up because its address asked too often.</summary>
    public const string LookupLimitedItem = "agentbus:key_lookup_limited";

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        if (!Request.Headers.TryGetValue(Header, out var values))
        {
            return AuthenticateResult.NoResult();
        }
        var key = values.ToString();
        // A real key is ~50 characters; anything far longer is not worth hashing.
        if (values.Count != 1 || key.Length is 0 or > 256)
        {
            return AuthenticateResult.Fail("The API key is not valid.");
        }
        var check = await keys.AuthenticateAsync(key, Context.Connection.RemoteIpAddress?.ToString() ?? "", Context.RequestAborted);
        if (check.Identity is not { } identity)
        {
            if (check.Limited)
            {
                // Answered 429, not 401: the key may be good, the address has asked too often.
                Context.Items[LookupLimitedItem] = true;
            }
            return AuthenticateResult.Fail("The API key is not valid.");
        }
        var claims = new ClaimsIdentity([new Claim(Roles.CallerClaim, identity.Caller), new Claim("role", identity.Role)], SchemeName, Roles.CallerClaim, "role");
        return AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(claims), SchemeName));
    }

    protected override Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        Response.StatusCode = StatusCodes.Status401Unauthorized;
        Response.Headers.WWWAuthenticate = $"ApiKey header=\"{Header}\"";
        return Task.CompletedTask;
    }
}
