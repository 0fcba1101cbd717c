using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using StackExchange.Redis;

namespace AgentBus.IntegrationTests.Pipeline;

public sealed class DeadLetterTests(FailingPlanAppFixture fixture) : IClassFixture<FailingPlanAppFixture>
{
    [Fact]
    public async Task A_task_that_always_fails_is_retried_then_dead_lettered_and_the_job_fails_with_its_error()
    {
        using var api = fixture.Api();
        var (_, jobId) = await api.CreateProjectAsync("Doomed plan");
        await api.WaitForStatusAsync(jobId, "waiting_for_approval");
        (await api.ActAsync(jobId, "approve")).Dispose();

        var job = await api.WaitForStatusAsync(jobId, "failed", TimeSpan.FromSeconds(60));
        Assert.Equal("provider_error", (string?)job["error"]!["code"]);
        Assert.Contains("plan: simulated provider failure for plan_agent", (string?)job["error"]!["message"]);
        var plan = job["stages"]!.AsArray().Single(s => (string?)s!["stage"] == "plan")!;
        Assert.Equal("failed", (string?)plan["status"]);
        Assert.Equal(3, (int)plan["attempts"]!);
        Assert.Contains("simulated provider failure", (string?)plan["error"]);
        Assert.Equal("canceled", (string?)job["stages"]!.AsArray().Single(s => (string?)s!["stage"] == "architecture")!["status"]);

        await using var redis = await ConnectionMultiplexer.ConnectAsync(await fixture.ConnectionStringAsync("redis"));
        var dead = await redis.GetDatabase().StreamRangeAsync("agentbus:queue:cpu:dead");
        var entry = Assert.Single(dead, e => e["job_id"] == jobId.ToString());
        Assert.Equal("plan", (string?)entry["stage"]);
        Assert.StartsWith("provider_error: simulated provider failure", (string?)entry["error"]);
        Assert.Equal(0, await redis.GetDatabase().StreamLengthAsync("agentbus:queue:cpu"));

        using var worker = fixture.CreateClient("worker");
        var metrics = PrometheusText.Parse(await worker.GetStringAsync("/metrics"));
        Assert.Equal(1, metrics.Sum("agent_bus_queue_dead_lettered_total", l => l["queue_name"] == "cpu"));
        Assert.Equal(2, metrics.Sum("agent_bus_worker_tasks_processed_total", l => l["status"] == "retried"));
        Assert.Equal(3, metrics.Sum("agent_bus_errors_total", l => l["error_type"] == "provider_error" && l["component"] == "worker"));

        using var late = await api.ActAsync(jobId, "approve");
        Assert.Equal(HttpStatusCode.Conflict, late.StatusCode);

        // An operator sees the dead letter through the api and sends it back: the plan stage starts
        // its attempts afresh (and, its agent still failing, is dead-lettered again).
        var listed = (await api.Http.GetFromJsonAsync<JsonObject>("/api/dead-letters"))!["items"]!.AsArray();
        var item = Assert.Single(listed, i => (string?)i!["job_id"] == jobId.ToString())!;
        Assert.Equal(("cpu", entry.Id.ToString(), "plan"), ((string?)item["queue"], (string?)item["entry_id"], (string?)item["stage"]));
        Assert.StartsWith("provider_error: simulated provider failure", (string?)item["error"]);
        using (var requeue = await api.Http.PostAsync($"/api/dead-letters/cpu/{entry.Id}/requeue", null))
        {
            Assert.Equal(HttpStatusCode.OK, requeue.StatusCode);
            Assert.Equal("running", (string?)(await requeue.Content.ReadFromJsonAsync<JsonObject>())!["status"]);
        }
        using (var again = await api.Http.PostAsync($"/api/dead-letters/cpu/{entry.Id}/requeue", null))
        {
            await AgentBusClient.ProblemAsync(again, HttpStatusCode.NotFound);
        }
        var failedAgain = await AgentBusAppFixture.EventuallyAsync(() => api.GetJobAsync(jobId),
            j => (string?)j["status"] == "failed" && (int)j["stages"]!.AsArray().Single(s => (string?)s!["stage"] == "plan")!["attempts"]! == 3,
            TimeSpan.FromSeconds(60), "the requeued plan stage failing again after three fresh attempts");
        Assert.Equal("provider_error", (string?)failedAgain["error"]!["code"]);
        // The job's failure commits first, then its task is moved to the dead-letter stream: wait for that.
        var letters = await AgentBusAppFixture.EventuallyAsync(
            async () => (await redis.GetDatabase().StreamRangeAsync("agentbus:queue:cpu:dead")).Where(e => e["job_id"] == jobId.ToString()).ToList(),
            l => l.Count > 0, TimeSpan.FromSeconds(10), "the requeued task dead-lettered again");
        Assert.DoesNotContain(letters, e => e.Id == entry.Id);
        Assert.Single(letters);

        using var malformedId = await api.Http.PostAsync("/api/dead-letters/cpu/not-an-id/requeue", null);
        Assert.NotNull((await AgentBusClient.ProblemAsync(malformedId, HttpStatusCode.BadRequest))["errors"]!["entry_id"]);
    }
}
