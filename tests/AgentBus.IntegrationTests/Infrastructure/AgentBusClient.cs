using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace AgentBus.IntegrationTests.Infrastructure;

/// <summary>The contract's HTTP API as a test sees it: JSON in, JSON out, no shortcuts.</summary>
public sealed class AgentBusClient(HttpClient http) : IDisposable
{
    public HttpClient Http { get; } = http;

    public async Task<(Guid ProjectId, Guid JobId)> CreateProjectAsync(string name, string requirements = SampleRequirements.Clinic)
    {
        using var response = await Http.PostAsJsonAsync("/api/projects", new { name, requirements });
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var body = await response.Content.ReadFromJsonAsync<JsonObject>();
        Assert.Equal("queued", (string?)body!["status"]);
        Assert.Equal($"/api/projects/{body["project_id"]}", response.Headers.Location?.OriginalString);
        return (Guid.Parse((string)body["project_id"]!), Guid.Parse((string)body["job_id"]!));
    }

    /// <summary>A new API key (this client must be an admin's): the key itself, shown this once.</summary>
    public async Task<string> CreateKeyAsync(string name, string role)
    {
        using var response = await Http.PostAsJsonAsync("/api/keys", new { name, role });
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (string)(await response.Content.ReadFromJsonAsync<JsonObject>())!["key"]!;
    }

    public async Task<JsonObject> GetJobAsync(Guid jobId) =>
        (await Http.GetFromJsonAsync<JsonObject>($"/api/jobs/{jobId}"))!;

    public async Task<JsonObject> WaitForStatusAsync(Guid jobId, string status, TimeSpan? timeout = null) =>
        await AgentBusAppFixture.EventuallyAsync(() => GetJobAsync(jobId), j => (string?)j["status"] == status || IsStuckElsewhere(j, status),
            timeout ?? TimeSpan.FromSeconds(60), $"job {jobId} reaching {status}") is var job && (string?)job["status"] == status
            ? job
            : throw new Xunit.Sdk.XunitException($"job {jobId} ended {job["status"]} instead of {status}: {job.ToJsonString()}");

    public async Task<HttpResponseMessage> ActAsync(Guid jobId, string action, object? body = null) =>
        await Http.PostAsJsonAsync($"/api/jobs/{jobId}/{action}", body ?? new { });

    public async Task<JsonArray> ArtifactsAsync(Guid jobId) =>
        (await Http.GetFromJsonAsync<JsonArray>($"/api/jobs/{jobId}/artifacts"))!;

    public async Task<JsonObject> ArtifactAsync(Guid jobId, string type, int? version = null) =>
        (await Http.GetFromJsonAsync<JsonObject>($"/api/jobs/{jobId}/artifacts/{type}{(version is null ? "" : $"?version={version}")}"))!;

    /// <summary>Submits, approves when asked, and waits for completion.</summary>
    public async Task<(Guid ProjectId, Guid JobId)> RunJobAsync(string name, TimeSpan? timeout = null)
    {
        var ids = await CreateProjectAsync(name);
        await WaitForStatusAsync(ids.JobId, "waiting_for_approval", timeout);
        using (var approve = await ActAsync(ids.JobId, "approve"))
        {
            Assert.Equal(HttpStatusCode.OK, approve.StatusCode);
        }
        await WaitForStatusAsync(ids.JobId, "completed", timeout);
        return ids;
    }

    public static async Task<JsonObject> ProblemAsync(HttpResponseMessage response, HttpStatusCode expected)
    {
        Assert.Equal(expected, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = (await response.Content.ReadFromJsonAsync<JsonObject>())!;
        Assert.Equal((int)expected, (int)problem["status"]!);
        Assert.False(string.IsNullOrEmpty((string?)problem["trace_id"]), "problem has a trace id");
        return problem;
    }

    private static bool IsStuckElsewhere(JsonObject job, string wanted) =>
        (string?)job["status"] is "completed" or "failed" or "canceled" or "rejected" && (string?)job["status"] != wanted;

    public void Dispose() => Http.Dispose();
}
