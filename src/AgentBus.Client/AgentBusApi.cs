using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace AgentBus.Client;

/// <summary>
/// The api's calls, typed, each with <paramref name="credential"/> (the signed-in person's in the
/// web app, the stored login in the CLI): the api authorizes every call as it would a script's. A
/// refusal or an api that does not answer comes back as an <see cref="ApiProblem"/>, never thrown.
/// </summary>
public sealed class AgentBusApi(HttpClient http, IApiCredential credential)
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };

    /// <summary>The job actions and the text each takes (null: none).</summary>
    public static readonly IReadOnlyDictionary<string, string?> Actions = new Dictionary<string, string?>
    {
        ["approve"] = "notes", ["request-changes"] = "notes", ["reject"] = "reason", ["cancel"] = "reason", ["resume"] = null,
    };

    /// <summary>The same api called with another credential (a sign-in's candidate).</summary>
    public AgentBusApi With(IApiCredential other) => new(http, other);

    /// <summary>Who the credential belongs to, and its role.</summary>
    public Task<ApiResult<Me>> WhoAmIAsync(CancellationToken ct) => GetAsync<Me>("/api/me", ct);

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

    /// <summary>
    /// Submits a project under an Idempotency-Key (<paramref name="idempotencyKey"/>, else a new one
    /// per call): a retry of this request, by the HTTP client or by the caller with the same key,
    /// answers the first creation's ids instead of starting a second job.
    /// </summary>
    public Task<ApiResult<ProjectCreated>> CreateProjectAsync(string? name, string? requirements, decimal? budgetUsd, CancellationToken ct,
        string? idempotencyKey = null) =>
        SendAsync<ProjectCreated>(HttpMethod.Post, "/api/projects", new { name, requirements, budget_usd = budgetUsd }, ct,
            idempotencyKey ?? Guid.NewGuid().ToString());

    public Task<ApiResult<ProjectCreated>> RerunAsync(Guid projectId, CancellationToken ct) =>
        PostAsync<ProjectCreated>($"/api/projects/{projectId}/jobs", new { }, ct);

    public Task<ApiResult<JsonElement>> SetBudgetAsync(Guid projectId, decimal? budgetUsd, CancellationToken ct) =>
        SendAsync<JsonElement>(HttpMethod.Patch, $"/api/projects/{projectId}", new { budget_usd = budgetUsd }, ct);

    /// <summary>approve (notes), request-changes (notes), reject (reason), cancel (reason), resume: see <see cref="Actions"/>.</summary>
    public Task<ApiResult<JobTransition>> ActAsync(Guid jobId, string action, string? text, CancellationToken ct)
    {
        if (!Actions.TryGetValue(action, out var field))
        {
            throw new ArgumentOutOfRangeException(nameof(action), action, "not a job action");
        }
        object body = field is null ? new { } : new Dictionary<string, string?> { [field] = text };
        return PostAsync<JobTransition>($"/api/jobs/{jobId}/{action}", body, ct);
    }

    public Task<ApiResult<KeyList>> ListKeysAsync(CancellationToken ct) => GetAsync<KeyList>("/api/keys?limit=100", ct);

    public Task<ApiResult<KeyCreated>> CreateKeyAsync(string? name, string? role, CancellationToken ct) =>
        PostAsync<KeyCreated>("/api/keys", new { name, role }, ct);

    public Task<ApiResult<JsonElement>> RevokeKeyAsync(Guid keyId, CancellationToken ct) =>
        SendAsync<JsonElement>(HttpMethod.Delete, $"/api/keys/{keyId}", null, ct);

    public Task<ApiResult<DeadLetterList>> ListDeadLettersAsync(CancellationToken ct) => GetAsync<DeadLetterList>("/api/dead-letters", ct);

    public Task<ApiResult<JsonElement>> RequeueAsync(string queue, string entryId, CancellationToken ct) =>
        PostAsync<JsonElement>($"/api/dead-letters/{Uri.EscapeDataString(queue)}/{Uri.EscapeDataString(entryId)}/requeue", new { }, ct);

    /// <summary>A download (an artifact, the zip) with its headers read and its body still to stream; the caller disposes it.</summary>
    public async Task<HttpResponseMessage> OpenAsync(string path, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        await credential.ApplyAsync(request, ct);
        return await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
    }

    private Task<ApiResult<T>> GetAsync<T>(string path, CancellationToken ct) => SendAsync<T>(HttpMethod.Get, path, null, ct);

    private Task<ApiResult<T>> PostAsync<T>(string path, object body, CancellationToken ct) => SendAsync<T>(HttpMethod.Post, path, body, ct);

    private async Task<ApiResult<T>> SendAsync<T>(HttpMethod method, string path, object? body, CancellationToken ct, string? idempotencyKey = null)
    {
        using var request = new HttpRequestMessage(method, path);
        await credential.ApplyAsync(request, ct);
        if (idempotencyKey is not null)
        {
            request.Headers.Add("Idempotency-Key", idempotencyKey);
        }
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
