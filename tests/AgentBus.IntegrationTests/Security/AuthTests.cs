using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace AgentBus.IntegrationTests.Security;

/// <summary>Who may call what: API keys, JWTs, the three roles and the open endpoints.</summary>
[Collection(AppHostCollection.Name)]
public sealed class AuthTests(AppHostFixture fixture)
{
    /// <summary>Every operation of the api's OpenAPI document under /api, with made-up path values.</summary>
    private async Task<List<(HttpMethod Method, string Path)>> ApiOperationsAsync()
    {
        using var anonymous = fixture.CreateAnonymousClient();
        var document = (await anonymous.GetFromJsonAsync<JsonObject>("/openapi/v1.json"))!;
        var operations = new List<(HttpMethod, string)>();
        foreach (var (path, item) in document["paths"]!.AsObject())
        {
            if (!path.StartsWith("/api/", StringComparison.Ordinal))
            {
                continue;
            }
            var concrete = System.Text.RegularExpressions.Regex.Replace(path, @"\{(\w+)\}", m => m.Groups[1].Value == "type" ? "prd" : Guid.NewGuid().ToString());
            operations.AddRange(item!.AsObject().Select(o => (new HttpMethod(o.Key.ToUpperInvariant()), concrete)));
        }
        return operations;
    }

    private static HttpRequestMessage Request(HttpMethod method, string path) =>
        new(method, path) { Content = method == HttpMethod.Get || method == HttpMethod.Delete ? null : JsonContent.Create(new { }) };

    [Fact]
    public async Task Every_api_route_refuses_anonymous_callers_with_401_problem_and_www_authenticate()
    {
        var operations = await ApiOperationsAsync();
        // The document must list the whole API, or this test would pass on a subset.
        Assert.True(operations.Count >= 18, $"only {operations.Count} operations in the OpenAPI document");
        Assert.Contains(operations, o => o.Method == HttpMethod.Delete && o.Path.StartsWith("/api/keys/", StringComparison.Ordinal));
        using var anonymous = fixture.CreateAnonymousClient();
        foreach (var (method, path) in operations)
        {
            using var response = await anonymous.SendAsync(Request(method, path));
            var problem = await AgentBusClient.ProblemAsync(response, HttpStatusCode.Unauthorized);
            Assert.Contains("X-Api-Key", (string?)problem["detail"]);
            Assert.Equal("Bearer", Assert.Single(response.Headers.WwwAuthenticate).Scheme);
        }
    }

    [Fact]
    public async Task A_path_that_matches_no_endpoint_needs_a_caller_too()
    {
        // The fallback policy: whatever is not marked anonymous needs a caller, routes to come included.
        using var anonymous = fixture.CreateAnonymousClient();
        foreach (var path in new[] { "/api/not-a-route", "/admin", "/api/projects/x/y/z" })
        {
            await AgentBusClient.ProblemAsync(await anonymous.GetAsync(path), HttpStatusCode.Unauthorized);
        }
        using var admin = fixture.CreateClient("api");
        Assert.Equal(HttpStatusCode.NotFound, (await admin.GetAsync("/api/not-a-route")).StatusCode);
    }

    [Fact]
    public async Task A_token_cannot_name_its_own_caller_and_unsigned_or_expiry_less_tokens_are_refused()
    {
        var forged = TestJwt.Create(fixture.JwtSigningKey, "mallory", "operator", claims: new Dictionary<string, object> { ["agentbus_caller"] = "key:bootstrap" });
        using (var client = fixture.CreateBearerClient(forged))
        {
            var me = (await client.GetFromJsonAsync<JsonObject>("/api/me"))!;
            Assert.Equal("jwt:mallory", (string?)me["caller"]);
        }
        foreach (var token in new[]
        {
            TestJwt.Create(fixture.JwtSigningKey, "mallory", "admin", unsigned: true),
            TestJwt.Create(fixture.JwtSigningKey, "mallory", "admin", withExpiry: false),
        })
        {
            using var client = fixture.CreateBearerClient(token);
            await AgentBusClient.ProblemAsync(await client.GetAsync("/api/me"), HttpStatusCode.Unauthorized);
        }
    }

    [Fact]
    public async Task A_wrong_api_key_gets_401_naming_the_header()
    {
        using var client = fixture.CreateClient("api", "abk_not-a-key-anyone-created");
        using var response = await client.GetAsync("/api/projects");
        var problem = await AgentBusClient.ProblemAsync(response, HttpStatusCode.Unauthorized);
        Assert.Contains("API key", (string?)problem["detail"]);
        Assert.Equal("ApiKey", Assert.Single(response.Headers.WwwAuthenticate).Scheme);
    }

    [Theory]
    [InlineData("/health")]
    [InlineData("/health/ready")]
    [InlineData("/metrics")]
    [InlineData("/openapi/v1.json")]
    public async Task Probes_metrics_and_the_api_description_stay_open(string path)
    {
        using var anonymous = fixture.CreateAnonymousClient();
        using var response = await anonymous.GetAsync(path);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task Me_names_the_caller_and_its_highest_role()
    {
        foreach (var role in new[] { "viewer", "operator", "admin" })
        {
            var (id, key) = await CreateKeyAsync(role);
            using var client = fixture.CreateClient("api", key);
            var me = (await client.GetFromJsonAsync<JsonObject>("/api/me"))!;
            Assert.Equal($"key:{id}", (string?)me["caller"]);
            Assert.Equal(role, (string?)me["role"]);
        }
        using var admin = fixture.CreateClient("api");
        var bootstrap = (await admin.GetFromJsonAsync<JsonObject>("/api/me"))!;
        Assert.Equal(("key:bootstrap", "admin"), ((string?)bootstrap["caller"], (string?)bootstrap["role"]));
        using var jwt = fixture.CreateBearerClient(TestJwt.Create(fixture.JwtSigningKey, "alice", "operator"));
        var alice = (await jwt.GetFromJsonAsync<JsonObject>("/api/me"))!;
        Assert.Equal(("jwt:alice", "operator"), ((string?)alice["caller"], (string?)alice["role"]));
    }

    private async Task<(Guid Id, string Key)> CreateKeyAsync(string role)
    {
        using var admin = fixture.Api();
        using var response = await admin.Http.PostAsJsonAsync("/api/keys", new { name = $"{role} for tests", role });
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var body = (await response.Content.ReadFromJsonAsync<JsonObject>())!;
        Assert.Equal(role, (string?)body["role"]);
        var key = (string)body["key"]!;
        Assert.StartsWith("abk_", key);
        Assert.StartsWith((string)body["prefix"]!, key);
        return (Guid.Parse((string)body["id"]!), key);
    }

    [Fact]
    public async Task A_viewer_reads_but_may_not_submit_act_or_manage()
    {
        var (_, key) = await CreateKeyAsync("viewer");
        using var admin = fixture.Api();
        var (projectId, jobId) = await admin.CreateProjectAsync("Viewed by a viewer");
        using var viewer = new AgentBusClient(fixture.CreateClient("api", key));

        Assert.Equal(HttpStatusCode.OK, (await viewer.Http.GetAsync($"/api/jobs/{jobId}")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await viewer.Http.GetAsync($"/api/projects/{projectId}/usage")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await viewer.Http.GetAsync("/api/gpu/nodes")).StatusCode);

        using var submit = await viewer.Http.PostAsJsonAsync("/api/projects", new { name = "Not allowed", requirements = "Anything at all." });
        var problem = await AgentBusClient.ProblemAsync(submit, HttpStatusCode.Forbidden);
        Assert.Contains("operator", (string?)problem["detail"]);
        await AgentBusClient.ProblemAsync(await viewer.ActAsync(jobId, "cancel"), HttpStatusCode.Forbidden);
        await AgentBusClient.ProblemAsync(await viewer.Http.GetAsync("/api/keys"), HttpStatusCode.Forbidden);
    }

    [Fact]
    public async Task An_operator_submits_and_approves_but_may_not_set_budgets_or_manage_keys()
    {
        var (_, key) = await CreateKeyAsync("operator");
        using var operatorClient = new AgentBusClient(fixture.CreateClient("api", key));
        var (projectId, jobId) = await operatorClient.CreateProjectAsync("Run by an operator");
        await operatorClient.WaitForStatusAsync(jobId, "waiting_for_approval");
        using (var approve = await operatorClient.ActAsync(jobId, "approve"))
        {
            Assert.Equal(HttpStatusCode.OK, approve.StatusCode);
        }

        using var budget = await operatorClient.Http.PatchAsJsonAsync($"/api/projects/{projectId}", new { budget_usd = 5 });
        Assert.Contains("admin", (string?)(await AgentBusClient.ProblemAsync(budget, HttpStatusCode.Forbidden))["detail"]);
        using var create = await operatorClient.Http.PostAsJsonAsync("/api/keys", new { name = "escalation", role = "admin" });
        await AgentBusClient.ProblemAsync(create, HttpStatusCode.Forbidden);
    }

    [Fact]
    public async Task Budgets_are_the_admins_an_operator_gets_the_default_or_less_never_more_or_none()
    {
        var (_, key) = await CreateKeyAsync("operator");
        using var operatorClient = fixture.CreateClient("api", key);
        async Task<HttpResponseMessage> SubmitAsync(HttpClient client, decimal? budget) => await client.PostAsJsonAsync("/api/projects",
            budget is null ? new { name = "Budget policy", requirements = "Users must export invoices." } : (object)new { name = "Budget policy", requirements = "Users must export invoices.", budget_usd = budget });
        async Task<decimal?> BudgetOfAsync(HttpResponseMessage created)
        {
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
            var projectId = (string)(await created.Content.ReadFromJsonAsync<JsonObject>())!["project_id"]!;
            return (decimal?)(await operatorClient.GetFromJsonAsync<JsonObject>($"/api/projects/{projectId}"))!["budget_usd"];
        }

        // Without one, the default; at most the default, as asked.
        using (var none = await SubmitAsync(operatorClient, null))
        {
            Assert.Equal(AppHostFixture.DefaultBudgetUsd, await BudgetOfAsync(none));
        }
        using (var less = await SubmitAsync(operatorClient, 5m))
        {
            Assert.Equal(5m, await BudgetOfAsync(less));
        }
        // More than the default: the admin's call, and nothing is created.
        using (var more = await SubmitAsync(operatorClient, AppHostFixture.DefaultBudgetUsd + 1))
        {
            Assert.Contains("admin", (string?)(await AgentBusClient.ProblemAsync(more, HttpStatusCode.Forbidden))["detail"]);
        }
        using var admin = fixture.CreateClient("api");
        using var raised = await SubmitAsync(admin, 5_000m);
        Assert.Equal(5_000m, await BudgetOfAsync(raised));
    }

    [Fact]
    public async Task An_admin_key_works_until_it_is_revoked_and_listings_show_no_secret()
    {
        var (id, key) = await CreateKeyAsync("admin");
        using var created = fixture.CreateClient("api", key);
        using (var budget = await created.GetAsync("/api/keys?limit=200"))
        {
            Assert.Equal(HttpStatusCode.OK, budget.StatusCode);
            var listing = await budget.Content.ReadAsStringAsync();
            Assert.Contains(id.ToString(), listing);
            Assert.DoesNotContain(key, listing);
            Assert.DoesNotContain("hash", listing);
        }

        using var admin = fixture.Api();
        // Use is recorded off the request path, so it is awaited.
        await AgentBusAppFixture.EventuallyAsync(async () => (await admin.Http.GetFromJsonAsync<JsonObject>("/api/keys?limit=200"))!["items"]!.AsArray()
                .Single(k => (string?)k!["id"] == id.ToString())!["last_used_at"]?.ToString(),
            lastUsed => lastUsed is not null, TimeSpan.FromSeconds(10), "last_used_at being recorded");
        using (var revoke = await admin.Http.DeleteAsync($"/api/keys/{id}"))
        {
            Assert.Equal(HttpStatusCode.NoContent, revoke.StatusCode);
        }
        // Revoked on the replica that served the DELETE: refused at once, not after the cache window.
        await AgentBusClient.ProblemAsync(await created.GetAsync("/api/keys"), HttpStatusCode.Unauthorized);
        var listed = (await admin.Http.GetFromJsonAsync<JsonObject>("/api/keys?limit=200"))!["items"]!.AsArray().Single(k => (string?)k!["id"] == id.ToString())!;
        Assert.NotNull((string?)listed["revoked_at"]);
        Assert.Equal("key:bootstrap", (string?)listed["created_by"]);
        await AgentBusClient.ProblemAsync(await admin.Http.DeleteAsync($"/api/keys/{Guid.NewGuid()}"), HttpStatusCode.NotFound);
    }

    [Theory]
    [InlineData("", "viewer")]
    [InlineData("A name", "root")]
    [InlineData("A name", null)]
    public async Task Creating_a_key_validates_name_and_role(string name, string? role)
    {
        using var admin = fixture.Api();
        using var response = await admin.Http.PostAsJsonAsync("/api/keys", new { name, role });
        await AgentBusClient.ProblemAsync(response, HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task A_jwt_with_a_role_claim_is_accepted_with_that_role()
    {
        using var operatorClient = fixture.CreateBearerClient(TestJwt.Create(fixture.JwtSigningKey, "jwt-operator", "operator"));
        using var submit = await operatorClient.PostAsJsonAsync("/api/projects", new { name = "Submitted with a JWT", requirements = "A small service." });
        Assert.Equal(HttpStatusCode.Created, submit.StatusCode);
        await AgentBusClient.ProblemAsync(await operatorClient.GetAsync("/api/keys"), HttpStatusCode.Forbidden);

        using var admin = fixture.CreateBearerClient(TestJwt.Create(fixture.JwtSigningKey, "jwt-admin", "admin"));
        Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync("/api/keys")).StatusCode);
        using var noRole = fixture.CreateBearerClient(TestJwt.Create(fixture.JwtSigningKey, "jwt-nobody", null));
        await AgentBusClient.ProblemAsync(await noRole.GetAsync("/api/projects"), HttpStatusCode.Forbidden);
    }

    public static TheoryData<string> BadTokens => ["wrong audience", "wrong issuer", "expired", "bad signature", "not a jwt"];

    [Theory]
    [MemberData(nameof(BadTokens))]
    public async Task A_bad_jwt_gets_401(string what)
    {
        var token = what switch
        {
            "wrong audience" => TestJwt.Create(fixture.JwtSigningKey, "someone", "admin", audience: "another-api"),
            "wrong issuer" => TestJwt.Create(fixture.JwtSigningKey, "someone", "admin", issuer: "someone-else"),
            "expired" => TestJwt.Create(fixture.JwtSigningKey, "someone", "admin", expires: DateTimeOffset.UtcNow.AddMinutes(-5)),
            "bad signature" => TestJwt.Create(fixture.JwtSigningKey + "x", "someone", "admin"),
            _ => "abc.def.ghi",
        };
        using var client = fixture.CreateBearerClient(token);
        using var response = await client.GetAsync("/api/projects");
        var problem = await AgentBusClient.ProblemAsync(response, HttpStatusCode.Unauthorized);
        Assert.Contains("bearer token", (string?)problem["detail"]);
        Assert.Equal("Bearer", Assert.Single(response.Headers.WwwAuthenticate).Scheme);
    }
}
