using System.Diagnostics;

namespace AgentBus.IntegrationTests.Faults;

public sealed class LlmFaultTests(LlmFaultsFixture fixture) : IClassFixture<LlmFaultsFixture>
{
    private static readonly FakeModelServer.Scripted Ok = new(200);

    [Fact]
    public async Task Transient_provider_faults_and_garbage_answers_are_retried_and_the_job_completes()
    {
        // Each HTTP fault is followed by a good answer, so the client's retries absorb it; each
        // garbage answer (a 200 the SDK cannot use) fails one stage attempt, which the queue retries.
        fixture.ModelServer.Then(
            new(429, RetryAfter: "1"), Ok,
            new(529), Ok,
            new(500), Ok,
            new(200, Delay: TimeSpan.FromSeconds(5)), Ok,   // hangs past the 2 s attempt timeout
            new(200, Body: "<html>upstream proxy error</html>"), Ok,
            new(200, Body: """{"id":"chatcmpl-1","object":"chat.completion","choices":[{"index":0,"mess"""), Ok,
            new(200, Body: """{"hello":"world"}"""), Ok);
        var seenBefore = fixture.ModelServer.Requests.Count;

        using var api = fixture.Api();
        var clock = Stopwatch.StartNew();
        var (_, jobId) = await api.CreateProjectAsync("Flaky model");
        await api.WaitForStatusAsync(jobId, "waiting_for_approval", TimeSpan.FromSeconds(60));
        (await api.ActAsync(jobId, "approve")).Dispose();
        var job = await api.WaitForStatusAsync(jobId, "completed", TimeSpan.FromSeconds(120));

        Assert.Equal(0, fixture.ModelServer.Pending);
        var retries = (await fixture.EventsAsync(jobId)).Where(e => (string?)e["type"] == "stage_retry").ToList();
        var codes = retries.Select(e => $"{e["stage"]}: {e["data"]!["error_code"]} ({e["data"]!["error"]})").ToList();
        FaultsFixture.Say($"flaky model: completed in {clock.Elapsed.TotalSeconds:F1} s, {fixture.ModelServer.Requests.Count - seenBefore} model requests, stage retries: {string.Join("; ", codes)}");
        // Each garbage answer costs one attempt (one more when a retry meets the next scripted
        // fault). Attempts refused by a breaker still open from the other test are not counted.
        var garbage = retries.Where(e => (string?)e["data"]!["error_code"] != "circuit_open").ToList();
        Assert.True(garbage.Count is >= 3 and <= 4, $"{garbage.Count} stage retries not due to the breaker: {string.Join("; ", codes)}");
        Assert.True(garbage.Count(e => (string?)e["data"]!["error_code"] == "bad_response"
            && ((string?)e["data"]!["error"])!.StartsWith("openai: unreadable answer", StringComparison.Ordinal)) >= 3,
            $"garbage answers not classified as bad_response: {string.Join("; ", codes)}");
        Assert.All(retries, e => Assert.False(string.IsNullOrWhiteSpace((string?)e["data"]!["error_code"])));
        Assert.All(job["stages"]!.AsArray(), s => Assert.Equal("completed", (string?)s!["status"]));
    }

    [Fact]
    public async Task A_provider_failing_for_good_fails_the_jobs_with_a_classified_error_within_bounded_calls()
    {
        const int Jobs = 3;
        fixture.ModelServer.Then(Enumerable.Repeat(new FakeModelServer.Scripted(500), 200).ToArray());
        try
        {
            var seenBefore = fixture.ModelServer.Requests.Count;
            using var api = fixture.Api();
            var jobs = new List<Guid>();
            for (var i = 0; i < Jobs; i++)
            {
                jobs.Add((await api.CreateProjectAsync($"Model down {i}")).JobId);
            }

            var failed = new List<System.Text.Json.Nodes.JsonObject>();
            foreach (var job in jobs)
            {
                failed.Add(await api.WaitForStatusAsync(job, "failed", TimeSpan.FromSeconds(60)));
            }
            var errors = failed.Select(j => ((string?)j["error"]!["code"], (string?)j["error"]!["message"])).ToList();
            var seen = fixture.ModelServer.Requests.Count - seenBefore;
            FaultsFixture.Say($"model down: {Jobs} jobs failed; {seen} requests reached the server; errors: {string.Join("; ", errors)}");

            Assert.All(errors, e => Assert.True(
                e is ("provider_error", { } m) && m.Contains("openai answered 500", StringComparison.Ordinal)
                || e is ("circuit_open", { } c) && c.Contains("circuit open", StringComparison.Ordinal), $"unclear error {e}"));
            // Bounded: at most 4 attempts of 3 calls per job, no retry storm. Whether the breaker
            // opens here depends on what ran before: it opens at 80 % failures over a minute, and
            // the other test's successes in that minute can keep the ratio below (then all 36
            // calls go out). Its opening is asserted deterministically at the client level,
            // ProviderTests.Persistent_5xx_opens_the_breaker_and_calls_stop_reaching_the_provider.
            Assert.InRange(seen, Jobs, Jobs * 4 * 3);
        }
        finally
        {
            fixture.ModelServer.Clear();
        }
        // Should the breaker have opened, let it half-open so a test after this one starts with a working provider.
        await Task.Delay(LlmFaultsFixture.BreakDuration);
    }
}
