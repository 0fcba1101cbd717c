using System.Net.Http.Headers;
using System.Security.Claims;

namespace AgentBus.Web.Api;

/// <summary>
/// The signed-in person's credential for the api (an API key, or the access token of an OpenID
/// Connect sign-in). It lives only in the sign-in cookie, encrypted by Data Protection: the
/// browser holds it as an opaque HttpOnly value, and only this server reads it, to call the api.
/// </summary>
public static class ApiCredentials
{
    public const string ApiKeyClaim = "agentbus:api_key";
    public const string AccessTokenClaim = "agentbus:access_token";
    public const string RoleClaim = "role";
    public const string NameClaim = "name";

    public static ClaimsPrincipal Principal(string caller, string role, string credentialClaim, string credential, string scheme) =>
        new(new ClaimsIdentity([new Claim(NameClaim, caller), new Claim(RoleClaim, role), new Claim(credentialClaim, credential)], scheme, NameClaim, RoleClaim));

    /// <summary>Puts the user's credential on a request to the api; false when the user has none.</summary>
    public static bool Apply(ClaimsPrincipal user, HttpRequestMessage request)
    {
        if (user.FindFirst(ApiKeyClaim)?.Value is { Length: > 0 } key)
        {
            request.Headers.Add("X-Api-Key", key);
            return true;
        }
        if (user.FindFirst(AccessTokenClaim)?.Value is { Length: > 0 } token)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            return true;
        }
        return false;
    }
}
