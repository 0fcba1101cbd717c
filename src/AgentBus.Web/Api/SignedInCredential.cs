using System.Security.Claims;
using AgentBus.Client;
using Microsoft.AspNetCore.Components.Authorization;

namespace AgentBus.Web.Api;

/// <summary>The signed-in person's credential, from the cookie (<see cref="ApiCredentials"/>), on every api call of a page.</summary>
public sealed class SignedInCredential(AuthenticationStateProvider authentication) : IApiCredential
{
    public async ValueTask ApplyAsync(HttpRequestMessage request, CancellationToken ct) =>
        ApiCredentials.Apply((await authentication.GetAuthenticationStateAsync()).User, request);
}

/// <summary>A given principal's credential: a sign-in's candidate, or the user a page captured.</summary>
public sealed class PrincipalCredential(ClaimsPrincipal user) : IApiCredential
{
    public ValueTask ApplyAsync(HttpRequestMessage request, CancellationToken ct)
    {
        ApiCredentials.Apply(user, request);
        return ValueTask.CompletedTask;
    }
}

/// <summary>The client calls the web app makes for a given principal rather than the signed-in one.</summary>
public static class PrincipalCalls
{
    /// <summary>The api's address, found through service discovery.</summary>
    public const string BaseAddress = "https+http://api";

    /// <summary>Who a credential belongs to; used at sign-in, before there is a user.</summary>
    public static Task<ApiResult<Me>> WhoIsAsync(this AgentBusApi api, ClaimsPrincipal candidate, CancellationToken ct) =>
        api.With(new PrincipalCredential(candidate)).WhoAmIAsync(ct);

    public static IAsyncEnumerable<JobEvent> ReadJobAsync(this JobEventsClient events, ClaimsPrincipal user, Guid jobId, int lastSeq, CancellationToken ct) =>
        events.With(new PrincipalCredential(user)).ReadJobAsync(jobId, lastSeq, ct);

    public static IAsyncEnumerable<JobEvent> ReadAllAsync(this JobEventsClient events, ClaimsPrincipal user, CancellationToken ct) =>
        events.With(new PrincipalCredential(user)).ReadAllAsync(ct);
}
