using System.Net;

namespace AgentBus.IntegrationTests.Security;

[Collection(RateLimitCollection.Name)]
public sealed class RateLimitTests(RateLimitAppFixture fixture)
{
    private async Task<string> CreateKeyAsync()
    {
        using var admin = fixture.Api();
        return await admin.CreateKeyAsync("rate limited", "viewer");
    }

    /// <summary>The exporter caches its answer briefly, so the counter is awaited, not read once.</summary>
    private async Task RateLimitedCountedAsync(string reason)
    {
        using var metrics = fixture.CreateAnonymousClient();
        await AgentBusAppFixture.EventuallyAsync(async () => PrometheusText.Parse(await metrics.GetStringAsync("/metrics"))
                .Sum("agent_bus_http_rate_limited_total", l => l.GetValueOrDefault("reason") == reason),
            count => count >= 1, TimeSpan.FromSeconds(10), $"agent_bus_http_rate_limited_total{{reason=\"{reason}\"}} counting");
    }

    private static async Task<HttpResponseMessage[]> BurstAsync(HttpClient client, string path) =>
        await Task.WhenAll(Enumerable.Range(0, 3 * RateLimitAppFixture.Burst).Select(_ => client.GetAsync(path)));

    private static async Task<TimeSpan> AssertLimitedAsync(HttpResponseMessage[] responses)
    {
        var limited = responses.Where(r => r.StatusCode == HttpStatusCode.TooManyRequests).ToList();
        Assert.NotEmpty(limited);
        Assert.True(responses.Length - limited.Count <= RateLimitAppFixture.Burst + 1, $"{responses.Length - limited.Count} of {responses.Length} got through");
        var problem = await AgentBusClient.ProblemAsync(limited[0], HttpStatusCode.TooManyRequests);
        Assert.Contains("rate limit", (string?)problem["detail"]);
        var retryAfter = limited[0].Headers.RetryAfter?.Delta;
        Assert.NotNull(retryAfter);
        Assert.InRange(retryAfter.Value.TotalSeconds, 1, 5);
        return retryAfter.Value;
    }

    [Fact]
    public async Task A_key_over_its_bucket_gets_429_with_retry_after_then_recovers_and_other_keys_are_unaffected()
    {
        var key = await CreateKeyAsync();
        var other = await CreateKeyAsync();
        using var client = fixture.CreateClient("api", key);
        var retryAfter = await AssertLimitedAsync(await BurstAsync(client, "/api/gpu/nodes"));

        // Partitioned by key: another key from the same address still has its whole bucket.
        using var otherClient = fixture.CreateClient("api", other);
        Assert.Equal(HttpStatusCode.OK, (await otherClient.GetAsync("/api/gpu/nodes")).StatusCode);

        await Task.Delay(retryAfter);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/api/gpu/nodes")).StatusCode);

        await RateLimitedCountedAsync("key");
    }

    [Fact]
    public async Task Anonymous_callers_are_limited_by_address_and_probes_never_are()
    {
        using var anonymous = fixture.CreateAnonymousClient();
        var responses = await BurstAsync(anonymous, "/api/projects");
        Assert.All(responses, r => Assert.Contains(r.StatusCode, new[] { HttpStatusCode.Unauthorized, HttpStatusCode.TooManyRequests }));
        await AssertLimitedAsync(responses);

        // Exhausted address bucket or not, probes and scrapes are answered.
        foreach (var response in await BurstAsync(anonymous, "/health/ready"))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
        await RateLimitedCountedAsync("address");
        // The refusals are in the request counters too, by status and route.
        using var metrics = fixture.CreateAnonymousClient();
        foreach (var status in new[] { "401", "429" })
        {
            await AgentBusAppFixture.EventuallyAsync(async () => PrometheusText.Parse(await metrics.GetStringAsync("/metrics"))
                    .Sum("agent_bus_http_requests_total", l => l.GetValueOrDefault("status") == status && l.GetValueOrDefault("endpoint") == "/api/projects"),
                count => count >= 1, TimeSpan.FromSeconds(10), $"agent_bus_http_requests_total{{status=\"{status}\"}} counting");
        }
    }

    [Fact]
    public async Task A_forged_x_forwarded_for_from_an_untrusted_peer_does_not_leave_the_senders_address_bucket()
    {
        // Each request claims another client address; none is believed, so all share this sender's bucket.
        using var anonymous = fixture.CreateAnonymousClient();
        var responses = await Task.WhenAll(Enumerable.Range(0, 3 * RateLimitAppFixture.Burst).Select(async i =>
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/api/projects");
            request.Headers.Add("X-Forwarded-For", $"203.0.113.{i + 1}");
            return await anonymous.SendAsync(request);
        }));
        await AssertLimitedAsync(responses);
    }

    private async Task<double> KeyLookupsAsync()
    {
        // The exporter answers from a short cache: let it refresh first.
        await Task.Delay(TimeSpan.FromSeconds(1.5));
        using var metrics = fixture.CreateAnonymousClient();
        return PrometheusText.Parse(await metrics.GetStringAsync("/metrics"))
            .Sum("agent_bus_db_query_duration_seconds_count", l => l.GetValueOrDefault("query_type") == "api_key_lookup");
    }

    [Fact]
    public async Task Five_thousand_made_up_keys_cost_a_bounded_number_of_lookups_and_a_real_key_still_passes()
    {
        var real = await CreateKeyAsync();
        using var realClient = fixture.CreateClient("api", real);
        Assert.Equal(HttpStatusCode.OK, (await realClient.GetAsync("/api/me")).StatusCode);
        var before = await KeyLookupsAsync();

        // Half shaped like issued keys (each one unknown, so each would be a lookup), half not.
        using var anonymous = fixture.CreateAnonymousClient();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var flood = Task.Run(async () =>
        {
            using var gate = new SemaphoreSlim(32);
            await Task.WhenAll(Enumerable.Range(0, 5_000).Select(async i =>
            {
                await gate.WaitAsync();
                try
                {
                    var key = i % 2 == 0
                        ? "abk_" + Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_')
                        : $"made-up-{i}";
                    using var request = new HttpRequestMessage(HttpMethod.Get, "/api/me");
                    request.Headers.Add("X-Api-Key", key);
                    using var response = await anonymous.SendAsync(request);
                    Assert.Contains(response.StatusCode, new[] { HttpStatusCode.Unauthorized, HttpStatusCode.TooManyRequests });
                }
                finally
                {
                    gate.Release();
                }
            }));
        });
        // Meanwhile the real key (cached) is answered, and at once.
        await Task.Delay(200);
        var real1 = System.Diagnostics.Stopwatch.StartNew();
        Assert.Equal(HttpStatusCode.OK, (await realClient.GetAsync("/api/me")).StatusCode);
        var realLatency = real1.Elapsed;
        await flood;
        var seconds = clock.Elapsed.TotalSeconds;

        var lookups = await KeyLookupsAsync() - before;
        // The fixture's lookup bucket: its burst, then 2 a second while the flood lasted (and the wait after it).
        var bound = RateLimitAppFixture.Burst + 2 * (seconds + 2);
        Assert.True(lookups <= bound, $"{lookups} key lookups for 5,000 made-up keys in {seconds:F1} s (bound {bound:F0})");
        Assert.True(realLatency < TimeSpan.FromSeconds(2), $"the real key took {realLatency.TotalMilliseconds:F0} ms during the flood");
    }
}
