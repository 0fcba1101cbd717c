using System.Net;
using System.Net.Http.Json;
using AgentBus.Queue;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using StackExchange.Redis;

namespace AgentBus.IntegrationTests.Pipeline;

/// <summary>
/// DELETE /api/projects/{id} (issue 20, finding 13: erasure on a privacy request): every row
/// derived from the project goes, table by table, while its job is still running, and nothing
/// comes back; other projects keep every row; only an admin may erase.
/// </summary>
[Collection(AppHostCollection.Name)]
public sealed class ProjectErasureTests(AppHostFixture fixture)
{
    // Every table that holds something of a project, with the rows of one project (@p) and its jobs (@jobs).
    private static readonly Dictionary<string, string> Tables = new()
    {
        ["projects"] = "SELECT count(*) FROM projects WHERE project_id = @p",
        ["jobs"] = "SELECT count(*) FROM jobs WHERE project_id = @p OR job_id = ANY(@jobs)",
        ["stage_runs"] = "SELECT count(*) FROM stage_runs WHERE job_id = ANY(@jobs)",
        ["artifacts"] = "SELECT count(*) FROM artifacts WHERE job_id = ANY(@jobs)",
        ["job_events"] = "SELECT count(*) FROM job_events WHERE job_id = ANY(@jobs)",
        ["llm_calls"] = "SELECT count(*) FROM llm_calls WHERE project_id = @p OR job_id = ANY(@jobs)",
        ["job_routing"] = "SELECT count(*) FROM job_routing WHERE job_id = ANY(@jobs)",
        ["task_outbox"] = "SELECT count(*) FROM task_outbox WHERE job_id = ANY(@jobs)",
        ["idempotency_keys"] = "SELECT count(*) FROM idempotency_keys WHERE project_id = @p OR job_id = ANY(@jobs)",
    };

    [Fact]
    public async Task Erasing_a_project_with_a_running_job_leaves_no_row_of_it_and_other_projects_untouched()
    {
        using var api = fixture.Api();
        var (doomed, doomedJob) = await CreateWithKeyAsync(api, "Erased on request");
        var (kept, keptJob) = await api.CreateProjectAsync("Kept beside the erased one");
        await api.WaitForStatusAsync(doomedJob, "waiting_for_approval");
        await api.WaitForStatusAsync(keptJob, "waiting_for_approval");
        // Approved: its next stages are queued or running when it is erased.
        (await api.ActAsync(doomedJob, "approve")).Dispose();

        await using var connection = new NpgsqlConnection(await fixture.PostgresConnectionStringAsync());
        await connection.OpenAsync();
        await using var redis = await ConnectionMultiplexer.ConnectAsync(await fixture.ConnectionStringAsync("redis"));
        var dead = TaskQueue.DeadLetterKey(TaskQueue.Cpu);
        var doomedLetter = await redis.GetDatabase().StreamAddAsync(dead, RetentionTests.DeadLetterFields(doomed, doomedJob));
        var keptLetter = await redis.GetDatabase().StreamAddAsync(dead, RetentionTests.DeadLetterFields(kept, keptJob));
        var before = await CountsAsync(connection, doomed, [doomedJob]);
        Assert.All(Tables.Keys.Where(t => t != "task_outbox"), t => Assert.True(before[t] > 0, $"the project had no {t} rows to erase"));
        var keptBefore = await CountsAsync(connection, kept, [keptJob]);
        var spendBefore = await ErasedSpendAsync(connection);
        using var watching = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var auditLine = ApiLogLineAsync(watching.Token, "project_erased", doomed.ToString());
        await Task.Delay(500);

        using (var erase = await api.Http.DeleteAsync($"/api/projects/{doomed}"))
        {
            Assert.Equal(HttpStatusCode.NoContent, erase.StatusCode);
        }

        Assert.All(await CountsAsync(connection, doomed, [doomedJob]), c => Assert.True(c.Value == 0, $"{c.Value} {c.Key} row(s) left"));
        // The audit line: who and which project, with the counts; nothing the person wrote.
        var audit = await auditLine.WaitAsync(TimeSpan.FromSeconds(15));
        Assert.True(audit.Contains("key:bootstrap", StringComparison.Ordinal), audit);
        Assert.DoesNotContain("Erased on request", audit, StringComparison.Ordinal);
        Assert.DoesNotContain(SampleRequirements.Clinic[..40], audit, StringComparison.Ordinal);
        Assert.Equal(keptBefore, await CountsAsync(connection, kept, [keptJob]));
        var letters = (await redis.GetDatabase().StreamRangeAsync(dead)).Select(e => e.Id).ToList();
        Assert.DoesNotContain(doomedLetter, letters);
        Assert.Contains(keptLetter, letters);
        await redis.GetDatabase().StreamDeleteAsync(dead, [keptLetter]);
        // The money stays accounted for, without the project: at least the calls it had before.
        var spendAfter = await ErasedSpendAsync(connection);
        Assert.True(spendAfter.Calls - spendBefore.Calls >= before["llm_calls"], $"{spendBefore} -> {spendAfter}");
        Assert.True(spendAfter.Cost > spendBefore.Cost, $"{spendBefore} -> {spendAfter}");

        // A task of the erased job delivered again (a redelivery, a retry coming due) is skipped:
        // it is acknowledged and deleted, and no stage start, event or artifact comes back.
        var stale = await redis.GetDatabase().StreamAddAsync(TaskQueue.StreamKey(TaskQueue.Cpu),
            new TaskMessage(Guid.NewGuid(), doomedJob, doomed, "plan", null, null).ToEntries());
        await AgentBusAppFixture.EventuallyAsync(() => redis.GetDatabase().StreamRangeAsync(TaskQueue.StreamKey(TaskQueue.Cpu), stale, stale),
            e => e.Length == 0, TimeSpan.FromSeconds(30), "the stale task consumed");
        Assert.All(await CountsAsync(connection, doomed, [doomedJob]), c => Assert.True(c.Value == 0, $"{c.Value} {c.Key} row(s) came back"));

        using var gone = await api.Http.GetAsync($"/api/projects/{doomed}");
        await AgentBusClient.ProblemAsync(gone, HttpStatusCode.NotFound);
        using var again = await api.Http.DeleteAsync($"/api/projects/{doomed}");
        await AgentBusClient.ProblemAsync(again, HttpStatusCode.NotFound);
        using var job = await api.Http.GetAsync($"/api/jobs/{doomedJob}");
        await AgentBusClient.ProblemAsync(job, HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Only_an_admin_may_erase_and_an_unknown_project_is_404()
    {
        using var admin = fixture.Api();
        var (projectId, _) = await admin.CreateProjectAsync("Not the operator's to erase");
        using var operatorClient = fixture.CreateClient("api", await admin.CreateKeyAsync("erasure-operator", "operator"));

        using (var refused = await operatorClient.DeleteAsync($"/api/projects/{projectId}"))
        {
            await AgentBusClient.ProblemAsync(refused, HttpStatusCode.Forbidden);
        }
        using (var still = await admin.Http.GetAsync($"/api/projects/{projectId}"))
        {
            Assert.Equal(HttpStatusCode.OK, still.StatusCode);
        }
        using (var unknown = await admin.Http.DeleteAsync($"/api/projects/{Guid.NewGuid()}"))
        {
            await AgentBusClient.ProblemAsync(unknown, HttpStatusCode.NotFound);
        }
        using var erased = await admin.Http.DeleteAsync($"/api/projects/{projectId}");
        Assert.Equal(HttpStatusCode.NoContent, erased.StatusCode);

        // The API description names it, its answers and who may call it.
        var operation = (await admin.Http.GetFromJsonAsync<System.Text.Json.Nodes.JsonObject>("/openapi/v1.json"))!["paths"]!["/api/projects/{project_id}"]!["delete"]!;
        Assert.Equal("DeleteProject", (string?)operation["operationId"]);
        Assert.Contains("Admin only", (string?)operation["description"], StringComparison.Ordinal);
        Assert.NotNull(operation["responses"]!["204"]);
        Assert.NotNull(operation["responses"]!["404"]);
    }

    /// <summary>
    /// The first line the api logs from now on that holds every one of <paramref name="parts"/>
    /// (the fixture keeps no log backlog: start watching before the request that logs it).
    /// </summary>
    private async Task<string> ApiLogLineAsync(CancellationToken ct, params string[] parts)
    {
        var api = fixture.App.Services.GetRequiredService<DistributedApplicationModel>().Resources.Single(r => r.Name == "api");
        // By the resource, not its name: a project's logs are kept per instance.
        await foreach (var batch in fixture.App.Services.GetRequiredService<ResourceLoggerService>().WatchAsync(api).WithCancellation(ct))
        {
            if (batch.Select(l => l.Content).FirstOrDefault(c => parts.All(p => c.Contains(p, StringComparison.Ordinal))) is { } line)
            {
                return line;
            }
        }
        throw new InvalidOperationException("the api's log stream ended");
    }

    private static async Task<(Guid ProjectId, Guid JobId)> CreateWithKeyAsync(AgentBusClient api, string name)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/projects")
        {
            Content = JsonContent.Create(new { name, requirements = SampleRequirements.Clinic }),
        };
        request.Headers.Add("Idempotency-Key", Guid.NewGuid().ToString());
        using var response = await api.Http.SendAsync(request);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var body = (await response.Content.ReadFromJsonAsync<System.Text.Json.Nodes.JsonObject>())!;
        return (Guid.Parse((string)body["project_id"]!), Guid.Parse((string)body["job_id"]!));
    }

    private static async Task<Dictionary<string, long>> CountsAsync(NpgsqlConnection connection, Guid projectId, Guid[] jobIds)
    {
        var counts = new Dictionary<string, long>();
        foreach (var (table, sql) in Tables)
        {
            await using var command = new NpgsqlCommand(sql, connection);
            command.Parameters.AddWithValue("p", projectId);
            command.Parameters.AddWithValue("jobs", jobIds);
            counts[table] = (long)(await command.ExecuteScalarAsync())!;
        }
        return counts;
    }

    private static async Task<(long Calls, decimal Cost)> ErasedSpendAsync(NpgsqlConnection connection)
    {
        await using var command = new NpgsqlCommand("SELECT coalesce(sum(calls), 0)::bigint, coalesce(sum(cost_usd), 0) FROM llm_spend_erased", connection);
        await using var reader = await command.ExecuteReaderAsync();
        await reader.ReadAsync();
        return (reader.GetInt64(0), reader.GetDecimal(1));
    }
}
