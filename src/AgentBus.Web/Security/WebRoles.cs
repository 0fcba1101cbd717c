using System.Security.Claims;
using Microsoft.AspNetCore.Authorization;

namespace AgentBus.Web.Security;

/// <summary>
/// The api's three roles, hierarchical as there (admin can do what operator can, operator what
/// viewer can). The pages use them to show only what a role may do; the api still decides.
/// </summary>
public static class WebRoles
{
    public const string Viewer = "viewer";
    public const string Operator = "operator";
    public const string Admin = "admin";

    private static readonly string[] All = [Viewer, Operator, Admin];

    public static bool IsAtLeast(this ClaimsPrincipal user, string role) =>
        All[Array.IndexOf(All, role)..].Any(user.IsInRole);

    public static AuthorizationBuilder AddWebRolePolicies(this AuthorizationBuilder authorization)
    {
        foreach (var role in All)
        {
            authorization.AddPolicy(role, p => p.RequireAuthenticatedUser().RequireRole(All[Array.IndexOf(All, role)..]));
        }
        return authorization;
    }
}
