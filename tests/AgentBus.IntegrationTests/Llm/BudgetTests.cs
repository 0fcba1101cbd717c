using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace AgentBus.IntegrationTests.Llm;

[Collection(AppHostCollection.Name)]
public sealed class BudgetTests(AppHostFixture fixture)
{
    [Fact]
    public async Task A_job_stops_before_the_call_that_could_pass_its_budget_and_resumes_after_a_raise()
    {
        using var api = fixture.Api();
        using var created = await api.Http.PostAsJsonAsync("/api/projects", new { name = "Budgeted", requirements = SampleRequirements.Clinic, budget_usd = 2.0m });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var ids = (await created.Content.ReadFromJsonAsync<JsonObject>())!;
        var (projectId, jobId) = (Guid.Parse((string)ids["project_id"]!), Guid.Parse((string)ids["job_id"]!));
        await api.WaitForStatusAsync(jobId, "waiting_for_approval");
        (await api.ActAsync(jobId, "approve")).Dispose();

        var stopped = await api.WaitForStatusAsync(jobId, "failed", TimeSpan.FromSeconds(60));
        Assert.Equal("budget_exceeded", (string?)stopped["error"]!["code"]);
        var stoppedStage = stopped["stages"]!.AsArray().Single(s => (string?)s!["status"] == "failed")!;
        Assert.StartsWith("budget_exceeded:", (string?)stoppedStage["error"]);
        var usage = await UsageAsync(api, $"/api/projects/{projectId}/usage");
        Assert.True((decimal)usage["cost_usd"]! is > 0 and <= 2.0m, $"spent {usage["cost_usd"]} against a $2 budget");
        Assert.Equal(2.0m, (decimal)usage["budget_usd"]!);
        var completedBefore = stopped["stages"]!.AsArray().Count(s => (string?)s!["status"] == "completed");
        Assert.InRange(completedBefore, 2, 10);

        using (var early = await api.ActAsync(jobId, "approve"))
        {
            await AgentBusClient.ProblemAsync(early, HttpStatusCode.Conflict);
        }
        using (var raise = await api.Http.PatchAsJsonAsync($"/api/projects/{projectId}", new { budget_usd = 500m }))
        {
            Assert.Equal(HttpStatusCode.OK, raise.StatusCode);
        }
        // The raise is in the job's history, with who made it (the fixture's client holds the bootstrap admin key).
        await using (var db = new Npgsql.NpgsqlConnection(await fixture.PostgresConnectionStringAsync()))
        {
            await db.OpenAsync();
            await using var read = new Npgsql.NpgsqlCommand(
                "SELECT data->>'by', (data->>'budget_usd')::numeric FROM job_events WHERE job_id = $1 AND type = 'budget_changed'", db);
            read.Parameters.AddWithValue(jobId);
            await using var rows = await read.ExecuteReaderAsync();
            Assert.True(await rows.ReadAsync(), "no budget_changed event");
            Assert.Equal(("key:bootstrap", 500m), (rows.GetString(0), rows.GetDecimal(1)));
        }
        using (var resume = await api.ActAsync(jobId, "resume"))
        {
            Assert.Equal(HttpStatusCode.OK, resume.StatusCode);
        }
        var job = await api.WaitForStatusAsync(jobId, "completed", TimeSpan.FromSeconds(60));
        Assert.Null(job["error"]);
        var artifacts = await api.ArtifactsAsync(jobId);
        Assert.Equal(11, artifacts.Count);
        Assert.All(artifacts, a => Assert.Equal(1, (int)a!["version"]!));
        Assert.Equal(1, (int)job["stages"]!.AsArray().Single(s => (string?)s!["stage"] == "prd")!["attempts"]!);

        using var again = await api.ActAsync(jobId, "resume");
        Assert.Equal("completed", (string?)(await AgentBusClient.ProblemAsync(again, HttpStatusCode.Conflict))["job_status"]);
    }

    [Fact]
    public async Task Usage_counts_every_call_with_its_cost_by_agent_and_model()
    {
        using var api = fixture.Api();
        var (projectId, jobId) = await api.RunJobAsync("Usage");
        var usage = await UsageAsync(api, $"/api/jobs/{jobId}/usage");

        Assert.Equal(10, (long)usage["calls"]!);
        var byAgent = usage["by_agent"]!.AsArray();
        Assert.Equal(10, byAgent.Count);
        Assert.Equal((long)usage["input_tokens"]!, byAgent.Sum(a => (long)a!["input_tokens"]!));
        Assert.Equal((long)usage["output_tokens"]!, byAgent.Sum(a => (long)a!["output_tokens"]!));
        var expected = ((long)usage["input_tokens"]! + (long)usage["output_tokens"]!) * AppHostFixture.OfflinePricePerMillion / 1_000_000m;
        Assert.Equal(expected, (decimal)usage["cost_usd"]!);
        var model = Assert.Single(usage["by_model"]!.AsArray());
        Assert.Equal(("offline", "offline-writer-1"), ((string?)model!["provider"], (string?)model["model"]));
        Assert.Equal(0, (long)usage["unpriced_calls"]!);

        var project = await UsageAsync(api, $"/api/projects/{projectId}/usage");
        Assert.Equal((decimal)usage["cost_usd"]!, (decimal)project["cost_usd"]!);
    }

    [Fact]
    public async Task Budget_updates_are_validated()
    {
        using var api = fixture.Api();
        var (projectId, _) = await api.CreateProjectAsync("Budget validation");
        using var negative = await api.Http.PatchAsJsonAsync($"/api/projects/{projectId}", new { budget_usd = -5 });
        Assert.NotNull((await AgentBusClient.ProblemAsync(negative, HttpStatusCode.BadRequest))["errors"]!["budget_usd"]);
        using var unknown = await api.Http.PatchAsJsonAsync($"/api/projects/{Guid.NewGuid()}", new { budget_usd = 5 });
        await AgentBusClient.ProblemAsync(unknown, HttpStatusCode.NotFound);
        using var resumeRunning = await api.ActAsync(Guid.NewGuid(), "resume");
        await AgentBusClient.ProblemAsync(resumeRunning, HttpStatusCode.NotFound);
    }

    private static async Task<JsonObject> UsageAsync(AgentBusClient api, string path) =>
        (await api.Http.GetFromJsonAsync<JsonObject>(path))!;
}
