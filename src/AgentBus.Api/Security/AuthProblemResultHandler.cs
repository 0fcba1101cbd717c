using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Authorization.Policy;

namespace AgentBus.Api.Security;

/// <summary>
/// 401 and 403 as problem+json (with the trace id every problem carries), after the scheme has
/// set WWW-Authenticate. The detail says what to send, never why validation failed internally.
/// </summary>
public sealed class AuthProblemResultHandler(IProblemDetailsService problems) : IAuthorizationMiddlewareResultHandler
{
    private readonly AuthorizationMiddlewareResultHandler _default = new();

    public async Task HandleAsync(RequestDelegate next, HttpContext context, AuthorizationPolicy policy, PolicyAuthorizationResult result)
    {
        if (result.Challenged && context.Items.ContainsKey(ApiKeyAuthenticationHandler.LookupLimitedItem))
        {
            await RateLimits.RefuseAsync(context, "address", 1, "Too many API key lookups from this client address; retry after 1 s.");
        }
        else if (result.Challenged)
        {
            await context.ChallengeAsync();
            await WriteAsync(context, StatusCodes.Status401Unauthorized, "Authentication required",
                context.Request.Headers.ContainsKey(ApiKeyAuthenticationHandler.Header) ? "The API key is not valid or has been revoked."
                : context.Request.Headers.Authorization.Count > 0 ? "The bearer token is not valid (signature, issuer, audience or expiry)."
                : $"Send an API key in the {ApiKeyAuthenticationHandler.Header} header or a JWT as Authorization: Bearer.");
        }
        else if (result.Forbidden)
        {
            // The group's policy and the endpoint's are combined: the strictest names the role needed.
            var needed = policy.Requirements.OfType<Microsoft.AspNetCore.Authorization.Infrastructure.RolesAuthorizationRequirement>()
                .MinBy(r => r.AllowedRoles.Count())?.AllowedRoles.First() ?? "another";
            context.Response.StatusCode = StatusCodes.Status403Forbidden;
            await WriteAsync(context, StatusCodes.Status403Forbidden, "Forbidden", $"This needs the {needed} role or higher.");
        }
        else
        {
            await _default.HandleAsync(next, context, policy, result);
        }
    }

    private Task WriteAsync(HttpContext context, int status, string title, string detail) =>
        problems.WriteAsync(new ProblemDetailsContext
        {
            HttpContext = context,
            ProblemDetails = { Status = status, Title = title, Detail = detail },
        }).AsTask();
}
