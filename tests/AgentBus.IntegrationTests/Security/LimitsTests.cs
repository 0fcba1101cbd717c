using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace AgentBus.IntegrationTests.Security;

/// <summary>Request body and paging limits, on the standard topology.</summary>
[Collection(AppHostCollection.Name)]
public sealed class LimitsTests(AppHostFixture fixture)
{
    [Fact]
    public async Task A_body_over_one_mebibyte_gets_413_problem()
    {
        using var api = fixture.Api();
        using var response = await api.Http.PostAsJsonAsync("/api/projects", new { name = "Too big", requirements = new string('x', 1_200_000) });
        var problem = await AgentBusClient.ProblemAsync(response, HttpStatusCode.RequestEntityTooLarge);
        Assert.Contains("1 MiB", (string?)problem["detail"]);
    }

    [Fact]
    public async Task Refused_requests_are_counted_by_status_and_route()
    {
        using var api = fixture.Api();
        using var anonymous = fixture.CreateAnonymousClient();
        (await anonymous.GetAsync("/api/projects")).Dispose();                                                          // 401
        (await api.Http.PostAsJsonAsync("/api/projects", new { name = "Too big", requirements = new string('x', 1_200_000) })).Dispose(); // 413
        using (var charset = new StringContent("{}"))
        {
            charset.Headers.Remove("Content-Type");
            charset.Headers.TryAddWithoutValidation("Content-Type", "application/json; charset=nonsense");
            using var refused = await api.Http.PostAsync("/api/projects", charset);
            Assert.Equal(HttpStatusCode.UnsupportedMediaType, refused.StatusCode);                                      // 415
        }

        using var metrics = fixture.CreateAnonymousClient();
        foreach (var status in new[] { "401", "413", "415" })
        {
            await AgentBusAppFixture.EventuallyAsync(async () => PrometheusText.Parse(await metrics.GetStringAsync("/metrics"))
                    .Sum("agent_bus_http_requests_total", l => l.GetValueOrDefault("status") == status && l.GetValueOrDefault("endpoint") == "/api/projects"),
                count => count >= 1, TimeSpan.FromSeconds(10), $"agent_bus_http_requests_total{{status=\"{status}\",endpoint=\"/api/projects\"}}");
        }
    }

    [Fact]
    public async Task Readiness_under_a_flood_runs_its_checks_about_once_a_second_and_shows_no_exception_text()
    {
        using var anonymous = fixture.CreateAnonymousClient();
        var bodies = await Task.WhenAll(Enumerable.Range(0, 300).Select(async _ =>
        {
            using var response = await anonymous.GetAsync("/health/ready");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Contains("no-store", response.Headers.CacheControl?.ToString());
            return JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        }));
        // Each run of the checks measures its own durations: shared runs answer with the same ones.
        var runs = bodies.Select(b => $"{b["checks"]!["postgres"]!["duration_ms"]}/{b["checks"]!["redis"]!["duration_ms"]}").Distinct().Count();
        Assert.InRange(runs, 1, 5);
    }

    [Theory]
    [InlineData("/api/projects", 0, 0)]
    [InlineData("/api/projects", 201, 0)]
    [InlineData("/api/projects", 10, -1)]
    [InlineData("/api/keys", 0, 0)]
    [InlineData("/api/keys", 201, 0)]
    [InlineData("/api/keys", 10, 1_000_001)]
    public async Task Paging_outside_its_limits_gets_400_naming_the_field(string path, int limit, int offset)
    {
        using var api = fixture.Api();
        using var response = await api.Http.GetAsync($"{path}?limit={limit}&offset={offset}");
        var problem = await AgentBusClient.ProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.NotNull(problem["errors"]![offset is < 0 or > 1_000_000 ? "offset" : "limit"]);
    }

    [Fact]
    public async Task The_largest_page_is_allowed()
    {
        using var api = fixture.Api();
        Assert.Equal(HttpStatusCode.OK, (await api.Http.GetAsync("/api/projects?limit=200")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await api.Http.GetAsync("/api/keys?limit=200")).StatusCode);
    }
}
