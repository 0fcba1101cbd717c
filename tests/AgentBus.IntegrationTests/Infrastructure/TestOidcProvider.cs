using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Security.Claims;
using System.Text;
using Microsoft.AspNetCore;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OpenIddict.Abstractions;
using OpenIddict.Server.AspNetCore;
using static OpenIddict.Abstractions.OpenIddictConstants;
using static OpenIddict.Server.OpenIddictServerEvents;

namespace AgentBus.IntegrationTests.Infrastructure;

/// <summary>
/// A real OpenID Connect provider (OpenIddict) on loopback, for the web app's sign-in: discovery,
/// signing keys, the authorization endpoint (code flow, PKCE required) behind a small login form
/// where the person types a user name and picks a role, and the token endpoint. Access tokens are
/// signed JWTs (not encrypted) for the api's audience carrying sub and role, as an organization's
/// provider issues them for an API. One client is known: the web app, with its secret and its
/// /signin-oidc redirect address.
/// </summary>
/// <remarks>
/// OpenIddict's degraded mode: no database, so the two checks its stores would make (the client
/// and its redirect address at the authorization endpoint, the client's secret at the token
/// endpoint) are the handlers below. Codes are self-contained and encrypted with an ephemeral key.
/// </remarks>
public sealed class TestOidcProvider : IAsyncDisposable
{
    public const string ClientId = "agentbus-web";

    /// <summary>The audience of every access token: the api's (its AgentBus:Auth:Jwt:Audience).</summary>
    public const string Audience = TestJwt.Audience;

    /// <summary>The login form's fields, posted back to the authorization endpoint with the request's own parameters.</summary>
    public const string UserField = "agentbus_user";
    public const string RoleField = "agentbus_role";
    public const string LifetimeField = "agentbus_token_seconds";

    private readonly WebApplication _app;

    public string ClientSecret { get; } = Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(24));

    /// <summary>The only redirect address accepted (the web's /signin-oidc); set once the AppHost has given the web its address.</summary>
    public string? RedirectUri { get; set; }

    /// <summary>Every access token the token endpoint handed out, oldest first.</summary>
    public ConcurrentQueue<string> AccessTokens { get; } = new();

    /// <summary>The issuer: discovery is at .well-known/openid-configuration below it.</summary>
    public Uri Authority { get; private set; } = null!;

    private TestOidcProvider()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Services.AddAuthentication();
        builder.Services.AddOpenIddict().AddServer(o =>
        {
            o.SetAuthorizationEndpointUris("connect/authorize").SetTokenEndpointUris("connect/token");
            o.AllowAuthorizationCodeFlow().RequireProofKeyForCodeExchange();
            o.RegisterScopes(Scopes.OpenId, Scopes.Profile);
            o.AddEphemeralEncryptionKey().AddEphemeralSigningKey();
            // The api reads the token itself (signature from the published keys): a JWS, not a JWE.
            o.DisableAccessTokenEncryption();
            o.EnableDegradedMode();
            o.AddEventHandler<ValidateAuthorizationRequestContext>(h => h.UseInlineHandler(context =>
            {
                if (context.ClientId != ClientId)
                {
                    context.Reject(Errors.InvalidClient, "unknown client_id");
                }
                else if (RedirectUri is null || !string.Equals(context.RedirectUri, RedirectUri, StringComparison.Ordinal))
                {
                    context.Reject(Errors.InvalidRequest, $"redirect_uri {context.RedirectUri} is not registered ({RedirectUri})");
                }
                return default;
            }));
            o.AddEventHandler<ValidateTokenRequestContext>(h => h.UseInlineHandler(context =>
            {
                if (context.ClientId != ClientId || context.ClientSecret != ClientSecret)
                {
                    context.Reject(Errors.InvalidClient, "unknown client or wrong secret");
                }
                return default;
            }));
            o.AddEventHandler<ApplyTokenResponseContext>(h => h.UseInlineHandler(context =>
            {
                if (context.Response.AccessToken is { Length: > 0 } token)
                {
                    AccessTokens.Enqueue(token);
                }
                return default;
            }));
            // Plain http on loopback: a test provider, like the api's http authority in development.
            o.UseAspNetCore().EnableAuthorizationEndpointPassthrough().DisableTransportSecurityRequirement();
        });
        _app = builder.Build();
        _app.UseAuthentication();
        _app.MapMethods("/connect/authorize", [HttpMethods.Get, HttpMethods.Post], Authorize);
    }

    public static async Task<TestOidcProvider> StartAsync()
    {
        var provider = new TestOidcProvider();
        await provider._app.StartAsync();
        provider.Authority = new Uri(provider._app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First() + "/");
        return provider;
    }

    /// <summary>The login form first; posted back with a user name, the person is signed in with the chosen role (none: no role claim).</summary>
    private static IResult Authorize(HttpContext context)
    {
        var request = context.GetOpenIddictServerRequest() ?? throw new InvalidOperationException("not an OpenID Connect request");
        if ((string?)request[UserField] is not { Length: > 0 } user)
        {
            return Results.Content(LoginPage(request), "text/html; charset=utf-8");
        }
        var identity = new ClaimsIdentity(OpenIddictServerAspNetCoreDefaults.AuthenticationScheme, Claims.Name, Claims.Role);
        identity.SetClaim(Claims.Subject, user).SetClaim(Claims.Name, user);
        if ((string?)request[RoleField] is { Length: > 0 } role)
        {
            identity.SetClaim(Claims.Role, role);
        }
        identity.SetScopes(request.GetScopes());
        identity.SetResources(Audience);
        identity.SetDestinations(claim => claim.Type == Claims.Name ? [Destinations.IdentityToken] : [Destinations.AccessToken, Destinations.IdentityToken]);
        var principal = new ClaimsPrincipal(identity);
        if ((string?)request[LifetimeField] is { Length: > 0 } seconds)
        {
            principal.SetAccessTokenLifetime(TimeSpan.FromSeconds(int.Parse(seconds, CultureInfo.InvariantCulture)));
        }
        return Results.SignIn(principal, authenticationScheme: OpenIddictServerAspNetCoreDefaults.AuthenticationScheme);
    }

    /// <summary>A form that posts the authorization request's own parameters back, with the person's choice.</summary>
    private static string LoginPage(OpenIddictRequest request)
    {
        var hidden = new StringBuilder();
        foreach (var (name, value) in request.GetParameters())
        {
            hidden.Append(CultureInfo.InvariantCulture, $"""<input type="hidden" name="{WebUtility.HtmlEncode(name)}" value="{WebUtility.HtmlEncode((string?)value)}">""");
        }
        return $"""
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><title>Test organization: sign in</title></head>
            <body><main>
            <h1>Test organization</h1>
            <form method="post" action="/connect/authorize">
            {hidden}
            <label for="user">User name</label> <input id="user" name="{UserField}" required>
            <label for="role">Role</label>
            <select id="role" name="{RoleField}"><option value="">(none)</option><option value="viewer">viewer</option><option value="operator">operator</option><option value="admin">admin</option></select>
            <label for="lifetime">Access token lifetime (s)</label> <input id="lifetime" name="{LifetimeField}" inputmode="numeric">
            <button type="submit">Sign in</button>
            </form>
            </main></body></html>
            """;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
