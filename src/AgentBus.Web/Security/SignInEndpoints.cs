using System.Globalization;
using System.Net;
using AgentBus.Client;
using AgentBus.Web.Api;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Authentication.OpenIdConnect;
using Microsoft.AspNetCore.Antiforgery;

namespace AgentBus.Web.Security;

/// <summary>
/// Sign-in and sign-out. An API key is checked against the api (GET /api/me says whose it is and
/// its role) and kept in the encrypted sign-in cookie; OpenID Connect, when configured, signs in
/// with the authority the api trusts and keeps the access token the same way.
/// </summary>
public static class SignInEndpoints
{
    public const string CookieName = "agentbus.web";
    public const string SignInPath = "/signin";

    /// <summary>The sign-in page's ?error= after an OpenID Connect sign-in the api gave no role (else "oidc").</summary>
    public const string NoRoleFailure = "no-role";
    private const string FailureItem = "agentbus:failure";
    private static readonly TimeSpan CookieLifetime = TimeSpan.FromHours(8);

    public static IServiceCollection AddWebSignIn(this IServiceCollection services, IConfiguration configuration)
    {
        var authentication = services.AddAuthentication(CookieAuthenticationDefaults.AuthenticationScheme)
            .AddCookie(o =>
            {
                o.Cookie.Name = CookieName;
                o.Cookie.HttpOnly = true;
                o.Cookie.SameSite = SameSiteMode.Lax;
                o.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
                o.LoginPath = SignInPath;
                o.AccessDeniedPath = "/forbidden";
                o.ExpireTimeSpan = CookieLifetime;
                o.SlidingExpiration = true;
            });
        var oidc = configuration.GetSection(OidcOptions.Section).Get<OidcOptions>();
        if (oidc is { Authority.Length: > 0, ClientId.Length: > 0 })
        {
            authentication.AddOpenIdConnect(o =>
            {
                o.Authority = oidc.Authority;
                o.ClientId = oidc.ClientId;
                o.ClientSecret = oidc.ClientSecret;
                o.ResponseType = "code";
                o.UsePkce = true;
                o.SaveTokens = false;
                o.MapInboundClaims = false;
                o.CallbackPath = "/signin-oidc";
                // As the api decides for its bearer tokens: keys and metadata over https, except
                // from an http authority (a provider on loopback in development and tests).
                o.RequireHttpsMetadata = oidc.Authority.StartsWith("https://", StringComparison.OrdinalIgnoreCase);
                o.Scope.Clear();
                foreach (var scope in oidc.Scopes.Split(' ', StringSplitOptions.RemoveEmptyEntries))
                {
                    o.Scope.Add(scope);
                }
                o.Events.OnTokenValidated = ReplacePrincipalWithApiIdentityAsync;
                o.Events.OnRemoteFailure = BackToSignInAsync;
            });
        }
        services.AddAuthorizationBuilder().AddWebRolePolicies();
        services.AddCascadingAuthenticationState();
        return services;
    }

    public static bool OidcConfigured(IConfiguration configuration) =>
        configuration.GetSection(OidcOptions.Section).Get<OidcOptions>() is { Authority.Length: > 0, ClientId.Length: > 0 };

    public static IEndpointRouteBuilder MapSignInEndpoints(this IEndpointRouteBuilder app)
    {
        // Only the sign-out form (with its antiforgery token) signs out: a forged post is refused.
        app.MapPost("/signout", async Task<IResult> (HttpContext context, IAntiforgery antiforgery) =>
        {
            if (!await antiforgery.IsRequestValidAsync(context))
            {
                return TypedResults.Problem(statusCode: StatusCodes.Status400BadRequest, title: "The form's antiforgery token is missing or invalid.");
            }
            await context.SignOutAsync(CookieAuthenticationDefaults.AuthenticationScheme);
            return TypedResults.LocalRedirect(SignInPath);
        }).DisableAntiforgery();
        if (OidcConfigured(app.ServiceProvider.GetRequiredService<IConfiguration>()))
        {
            app.MapGet("/signin/oidc", (string? returnUrl) =>
                TypedResults.Challenge(new AuthenticationProperties { RedirectUri = LocalOrRoot(returnUrl) }, [OpenIdConnectDefaults.AuthenticationScheme]))
                .AllowAnonymous();
        }
        return app;
    }

    /// <summary>A return address inside this app, or the jobs page: never a redirect elsewhere.</summary>
    public static string LocalOrRoot(string? returnUrl) =>
        returnUrl is { Length: > 0 } && returnUrl.StartsWith('/') && !returnUrl.StartsWith("//", StringComparison.Ordinal) && !returnUrl.StartsWith("/\\", StringComparison.Ordinal)
            ? returnUrl
            : "/";

    /// <summary>After an OpenID Connect sign-in: the api says who the token's holder is and its role; the cookie keeps the token.</summary>
    private static async Task ReplacePrincipalWithApiIdentityAsync(TokenValidatedContext context)
    {
        var token = context.TokenEndpointResponse?.AccessToken;
        if (string.IsNullOrEmpty(token))
        {
            context.Fail("The authority returned no access token.");
            return;
        }
        var candidate = ApiCredentials.Principal("pending", WebRoles.Viewer, ApiCredentials.AccessTokenClaim, token, "oidc");
        var api = context.HttpContext.RequestServices.GetRequiredService<AgentBusApi>();
        var me = await api.WhoIsAsync(candidate, context.HttpContext.RequestAborted);
        if (me.Value is null)
        {
            if (me.Problem?.Status == HttpStatusCode.Forbidden)
            {
                // The organization knows the person, Agent Bus gives them no role: the sign-in page
                // says so. Kept on the request (a failure carries no properties to OnRemoteFailure).
                context.HttpContext.Items[FailureItem] = NoRoleFailure;
            }
            context.Fail($"The Agent Bus API refused the token: {me.Problem}");
            return;
        }
        context.Principal = ApiCredentials.Principal(me.Value.Caller, me.Value.Role, ApiCredentials.AccessTokenClaim, token, CookieAuthenticationDefaults.AuthenticationScheme);
        // The sign-in ends with the token (at most the cookie's 8 hours, never slid past it): after
        // it the api would refuse every call, so the pages ask to sign in again instead.
        if (int.TryParse(context.TokenEndpointResponse!.ExpiresIn, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds) && context.Properties is { } properties)
        {
            properties.ExpiresUtc = DateTimeOffset.UtcNow + TimeSpan.FromSeconds(Math.Min(seconds, CookieLifetime.TotalSeconds));
            properties.AllowRefresh = false;
        }
    }

    /// <summary>
    /// A sign-in that failed at the provider, on the way back (correlation, nonce, code) or at the
    /// api: back to the sign-in page with a fixed reason, the details in the log (not in the address).
    /// </summary>
    private static Task BackToSignInAsync(RemoteFailureContext context)
    {
        context.HttpContext.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(SignInEndpoints))
            .LogWarning(context.Failure, "OpenID Connect sign-in failed");
        var reason = context.HttpContext.Items[FailureItem] as string ?? "oidc";
        context.Response.Redirect($"{SignInPath}?error={reason}");
        context.HandleResponse();
        return Task.CompletedTask;
    }
}

/// <summary>OpenID Connect sign-in (AgentBus:Web:Oidc); off unless Authority and ClientId are set.</summary>
public sealed class OidcOptions
{
    public const string Section = "AgentBus:Web:Oidc";

    public string? Authority { get; set; }
    public string? ClientId { get; set; }
    public string? ClientSecret { get; set; }
    public string Scopes { get; set; } = "openid profile";
}
