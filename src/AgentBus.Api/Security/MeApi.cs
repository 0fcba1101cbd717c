using System.Security.Claims;

namespace AgentBus.Api.Security;

/// <summary>GET /api/me: who the caller is and the highest role it holds, so a client (the web app) shows only what that role may do.</summary>
public static class MeApi
{
    public sealed record Me(string Caller, string Role);

    public static IEndpointRouteBuilder MapMeApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/me", GetMe).WithTags("API keys").RequireAuthorization(Roles.Viewer)
            .WithName("GetMe").WithSummary("The caller (key:<id> or jwt:<sub>) and its role: viewer, operator or admin.");
        return app;
    }

    public static Microsoft.AspNetCore.Http.HttpResults.Ok<Me> GetMe(ClaimsPrincipal user) =>
        TypedResults.Ok(new Me(Roles.Actor(user), Roles.All.Last(user.IsInRole)));
}
