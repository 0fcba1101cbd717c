using System.Net;
using System.Net.Http.Json;

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
