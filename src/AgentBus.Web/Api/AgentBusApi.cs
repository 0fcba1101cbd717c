using System.Security.Claims;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Components.Authorization;

namespace AgentBus.Web.Api;

/// <summary>
/// The api as the pages use it, called with the signed-in person's own credential: the api
/// authorizes every call as it would a script's. Found through service discovery ("api").
/// </summary>
public sealed class AgentBusApi(HttpClient http, AuthenticationStateProvider authentication)
{
    public const string BaseAddress = "https+http://api";

    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };

    /// <summary>Who a credential belongs to; used at sign-in, before there is a user.</summary>
    public async Task<ApiResult<Me>> WhoIsAsync(ClaimsPrincipal candidate, CancellationToken ct) =>
        await SendAsync<Me>(HttpMethod.Get, "/api/me", null, candidate, ct);

    public Task<ApiResult<JobList>> ListJobsAsync(string? status, string? text, Guid? before, int limit, CancellationToken ct) =>
        GetAsync<JobList>($"/api/jobs?limit={limit}{Query("status", status)}{Query("q", text)}{Query("before", before?.ToString())}", ct);

    public Task<ApiResult<Job>> GetJobAsync(Guid jobId, CancellationToken ct) => GetAsync<Job>($"/api/jobs/{jobId}", ct);

    public Task<ApiResult<List<ArtifactListItem>>> ListArtifactsAsync(Guid jobId, CancellationToken ct) =>
        GetAsync<List<ArtifactListItem>>($"/api/jobs/{jobId}/artifacts", ct);

    public Task<ApiResult<Artifact>> GetArtifactAsync(Guid jobId, string type, int? version, CancellationToken ct) =>
        GetAsync<Artifact>($"/api/jobs/{jobId}/artifacts/{Uri.EscapeDataString(type)}{(version is { } v ? $"?version={v}" : "")}", ct);

    public Task<ApiResult<Usage>> GetJobUsageAsync(Guid jobId, CancellationToken ct) => GetAsync<Usage>($"/api/jobs/{jobId}/usage", ct);

    public Task<ApiResult<Usage>> GetProjectUsageAsync(Guid projectId, CancellationToken ct) => GetAsync<Usage>($"/api/projects/{projectId}/usage", ct);

    public Task<ApiResult<Project>> GetProjectAsync(Guid projectId, CancellationToken ct) => GetAsync<Project>($"/api/projects/{projectId}", ct);

    public Task<ApiResult<JobList>> ListProjectJobsAsync(Guid projectId, CancellationToken ct) => GetAsync<JobList>($"/api/projects/{projectId}/jobs", ct);

    /// <summary>A page of projects, newest first; the next page is before = the page's NextBefore.</summary>
    public Task<ApiResult<ProjectList>> ListProjectsAsync(Guid? before, int limit, CancellationToken ct) =>
        GetAsync<ProjectList>($"/api/projects?limit={limit}{Query("before", before?.ToString())}", ct);

    public Task<ApiResult<ProjectCreated>> CreateProjectAsync(string? name, string? requirements, decimal? budgetUsd, CancellationToken ct) =>
        PostAsync<ProjectCreated>("/api/projects", new { name, requirements, budget_usd = budgetUsd }, ct);

    public Task<ApiResult<ProjectCreated>> RerunAsync(Guid projectId, CancellationToken ct) =>
        PostAsync<ProjectCreated>($"/api/projects/{projectId}/jobs", new { }, ct);

    public Task<ApiResult<JsonElement>> SetBudgetAsync(Guid projectId, decimal? budgetUsd, CancellationToken ct) =>
        SendAsync<JsonElement>(HttpMethod.Patch, $"/api/projects/{projectId}", new { budget_usd = budgetUsd }, null, ct);

    /// <summary>approve (notes), request-changes (notes), reject (reason), cancel (reason), resume.</summary>
    public Task<ApiResult<JsonElement>> ActAsync(Guid jobId, string action, string? text, CancellationToken ct) => action switch
    {
        "approve" or "request-changes" => PostAsync<JsonElement>($"/api/jobs/{jobId}/{action}", new { notes = text }, ct),
        "reject" or "cancel" => PostAsync<JsonElement>($"/api/jobs/{jobId}/{action}", new { reason = text }, ct),
        "resume" => PostAsync<JsonElement>($"/api/jobs/{jobId}/resume", new { }, ct),
        _ => throw new ArgumentOutOfRangeException(nameof(action), action, "not a job action"),
    };

    public Task<ApiResult<KeyList>> ListKeysAsync(CancellationToken ct) => GetAsync<KeyList>("/api/keys?limit=100", ct);

    public Task<ApiResult<KeyCreated>> CreateKeyAsync(string? name, string? role, CancellationToken ct) =>
        PostAsync<KeyCreated>("/api/keys", new { name, role }, ct);

    public Task<ApiResult<JsonElement>> RevokeKeyAsync(Guid keyId, CancellationToken ct) =>
        SendAsync<JsonElement>(HttpMethod.Delete, $"/api/keys/{keyId}", null, null, ct);

    public Task<ApiResult<DeadLetterList>> ListDeadLettersAsync(CancellationToken ct) => GetAsync<DeadLetterList>("/api/dead-letters", ct);

    public Task<ApiResult<JsonElement>> RequeueAsync(string queue, string entryId, CancellationToken ct) =>
        PostAsync<JsonElement>($"/api/dead-letters/{Uri.EscapeDataString(queue)}/{Uri.EscapeDataString(entryId)}/requeue", new { }, ct);

    /// <summary>Streams a download (an artifact, the zip) from the api to <paramref name="context"/>'s response.</summary>
    public async Task CopyDownloadAsync(string path, HttpContext context, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        ApiCredentials.Apply(context.User, request);
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
        context.Response.StatusCode = (int)response.StatusCode;
        foreach (var header in new[] { "Content-Type", "Content-Disposition" })
        {
            if (response.Content.Headers.TryGetValues(header, out var values))
            {
                context.Response.Headers[header] = values.ToArray();
            }
        }
        await response.Content.CopyToAsync(context.Response.Body, ct);
    }

    private Task<ApiResult<T>> GetAsync<T>(string path, CancellationToken ct) => SendAsync<T>(HttpMethod.Get, path, null, null, ct);

    private Task<ApiResult<T>> PostAsync<T>(string path, object body, CancellationToken ct) => SendAsync<T>(HttpMethod.Post, path, body, null, ct);

    private async Task<ApiResult<T>> SendAsync<T>(HttpMethod method, string path, object? body, ClaimsPrincipal? user, CancellationToken ct)
    {
        user ??= (await authentication.GetAuthenticationStateAsync()).User;
        using var request = new HttpRequestMessage(method, path);
        ApiCredentials.Apply(user, request);
        if (body is not null)
        {
            request.Content = JsonContent.Create(body, options: Json);
        }
        try
        {
            using var response = await http.SendAsync(request, ct);
            if (!response.IsSuccessStatusCode)
            {
                return new ApiResult<T>(default, await ApiProblem.ReadAsync(response, ct));
            }
            return response.Content.Headers.ContentLength == 0 || response.StatusCode == System.Net.HttpStatusCode.NoContent
                ? new ApiResult<T>(default, null)
                : new ApiResult<T>(await response.Content.ReadFromJsonAsync<T>(Json, ct), null);
        }
        catch (HttpRequestException e)
        {
            return new ApiResult<T>(default, ApiProblem.Unreachable(e));
        }
    }

    private static string Query(string name, string? value) =>
        string.IsNullOrWhiteSpace(value) ? "" : $"&{name}={Uri.EscapeDataString(value)}";
}
