using System.Net.Http.Headers;

namespace AgentBus.Client;

/// <summary>Puts a caller's credential on each request to the api.</summary>
public interface IApiCredential
{
    ValueTask ApplyAsync(HttpRequestMessage request, CancellationToken ct);
}

/// <summary>An API key (X-Api-Key) or a JWT (Authorization: Bearer), known up front: a script's or a terminal's.</summary>
public sealed record StaticCredential(string Secret, bool IsBearerToken) : IApiCredential
{
    public ValueTask ApplyAsync(HttpRequestMessage request, CancellationToken ct)
    {
        if (IsBearerToken)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Secret);
        }
        else
        {
            request.Headers.Add("X-Api-Key", Secret);
        }
        return ValueTask.CompletedTask;
    }

    /// <summary>Never the secret itself: records print themselves in logs and debuggers.</summary>
    public override string ToString() => IsBearerToken ? "bearer token" : "API key";
}
