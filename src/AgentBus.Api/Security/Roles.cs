using System.Security.Claims;

namespace AgentBus.Api.Security;

/// <summary>
/// The three roles, hierarchical: admin can do what operator can, operator what viewer can. Each
/// is also the name of the authorization policy that admits it and every role above it.
/// </summary>
public static class Roles
{
    public const string Viewer = "viewer";
    public const string Operator = "operator";
    public const string Admin = "admin";

    public static readonly string[] All = [Viewer, Operator, Admin];

    /// <summary>The roles a policy admits: the role itself and those above it.</summary>
    public static string[] AtLeast(string role) => All[Array.IndexOf(All, role)..];

    /// <summary>The claim that names the caller for rate limiting and created_by: key:&lt;id&gt; or jwt:&lt;sub&gt;.</summary>
    public const string CallerClaim = "agentbus_caller";

    public static string? Caller(ClaimsPrincipal user) => user.FindFirst(CallerClaim)?.Value;

    /// <summary>Who acts, as a job's events record it (by): the caller, key:&lt;id&gt; (key:bootstrap for the admin key) or jwt:&lt;sub&gt;.</summary>
    public static string Actor(ClaimsPrincipal user) => Caller(user) ?? "unknown";
}
