using System.Net.Http.Json;

namespace AgentBus.IntegrationTests.Web;

/// <summary>
/// The operator's dead-letter page in a real browser: a task that failed every attempt is listed
/// with its error, and the Requeue button sends it back (its stage runs again with fresh attempts).
/// Its own fixture: DeadLetterTests counts every dead letter of its AppHost.
/// </summary>
public sealed class DeadLetterPageTests(FailingPlanAppFixture fixture) : IClassFixture<FailingPlanAppFixture>, IDisposable
{
    private readonly BrowserSessions _sessions = new(fixture);

    [Fact]
    public async Task An_operator_sees_a_dead_lettered_task_with_its_error_and_sends_it_back_to_its_queue()
    {
        using var api = fixture.Api();
        var (_, jobId) = await api.CreateProjectAsync("Doomed plan, seen in the browser");
        await api.WaitForStatusAsync(jobId, "waiting_for_approval");
        (await api.ActAsync(jobId, "approve")).Dispose();
        await api.WaitForStatusAsync(jobId, "failed", TimeSpan.FromSeconds(60));

        using var keys = await api.Http.PostAsJsonAsync("/api/keys", new { name = "dead letter operator", role = "operator" });
        var browser = _sessions.Open();
        browser.SignIn((string)(await keys.Content.ReadFromJsonAsync<System.Text.Json.Nodes.JsonObject>())!["key"]!);
        browser.Go("/operator/dead-letters");
        var row = $"tr:has(a[href='/jobs/{jobId}'])";
        Assert.Contains("simulated provider failure", browser.Text(row));
        Assert.Contains("Plan", browser.Text(row));
        _sessions.Check(browser, "dead-letters-with-a-task");

        browser.Click($"{row} button");
        browser.Until(() => browser.Text("[role=status]").Contains("back in the cpu queue"), TimeSpan.FromSeconds(15), "the requeue confirmed");
        Assert.False(browser.Exists(row), "the entry left the dead letters");
        // The plan stage was reopened with fresh attempts, and the job's events say who did it.
        var resumed = Assert.Single(await fixture.EventsAsync(jobId), e => (string?)e["type"] == "job_resumed");
        Assert.Equal("plan", (string?)resumed["data"]!["requeued_stage"]);
        Assert.StartsWith("key:", (string?)resumed["data"]!["by"]);
        Assert.NotEqual("key:bootstrap", (string?)resumed["data"]!["by"]); // the operator's own key
        _sessions.AssertAccessible();
    }

    public void Dispose() => _sessions.Dispose();
}
