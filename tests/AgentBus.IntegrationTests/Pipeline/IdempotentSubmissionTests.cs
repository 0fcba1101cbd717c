using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Npgsql;

namespace AgentBus.IntegrationTests.Pipeline;

/// <summary>
/// POST /api/projects with an Idempotency-Key (issue 20, finding 5): a retry answers what the
/// first request did and starts no second job, also when the copies race; the key belongs to its
/// caller and to its first request; what the database holds is checked directly.
/// </summary>
[Collection(AppHostCollection.Name)]
public sealed class IdempotentSubmissionTests(AppHostFixture fixture)
{
    private const string Header = "Idempotency-Key";

    [Fact]
    public async Task The_same_key_and_body_twice_answer_alike_and_start_one_job()
    {
        using var api = fixture.Api();
        var name = Unique("Retried submission");
        var key = Guid.NewGuid().ToString();

        using var first = await PostAsync(api.Http, key, new { name, requirements = "Users must be able to export invoices.", budget_usd = 2.5m });
        using var second = await PostAsync(api.Http, key, new { name, requirements = "Users must be able to export invoices.", budget_usd = 2.5m });
        // The draft standard's form of the header, an RFC 8941 string, is the same key.
        using var quoted = await PostAsync(api.Http, $"\"{key}\"", new { name, requirements = "Users must be able to export invoices.", budget_usd = 2.50m });

        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        var body = await first.Content.ReadAsStringAsync();
        foreach (var retry in new[] { second, quoted })
        {
            Assert.Equal(HttpStatusCode.Created, retry.StatusCode);
            Assert.Equal(body, await retry.Content.ReadAsStringAsync());
            Assert.Equal(first.Headers.Location, retry.Headers.Location);
            Assert.Equal("true", retry.Headers.GetValues("Idempotent-Replayed").Single());
        }
        Assert.False(first.Headers.Contains("Idempotent-Replayed"));
        var created = JsonNode.Parse(body)!;
        Assert.Equal("queued", (string?)created["status"]);
        var projectId = Guid.Parse((string)created["project_id"]!);
        Assert.Equal($"/api/projects/{projectId}", first.Headers.Location?.OriginalString);

        Assert.Equal((1, 1), await CountAsync(name));
        var jobs = (await api.Http.GetFromJsonAsync<JsonObject>($"/api/projects/{projectId}/jobs"))!;
        Assert.Equal([Guid.Parse((string)created["job_id"]!)], jobs["items"]!.AsArray().Select(j => Guid.Parse((string)j!["job_id"]!)));
    }

    [Fact]
    public async Task Twenty_concurrent_submissions_with_one_key_start_exactly_one_job()
    {
        using var api = fixture.Api();
        var name = Unique("Racing submission");
        var key = Guid.NewGuid().ToString("N");
        using var start = new SemaphoreSlim(0);
        var posts = Enumerable.Range(0, 20).Select(async _ =>
        {
            await start.WaitAsync();
            using var response = await PostAsync(api.Http, key, new { name, requirements = "Doctors should see their daily schedule." });
            return (response.StatusCode, Body: await response.Content.ReadAsStringAsync(), Replayed: response.Headers.Contains("Idempotent-Replayed"));
        }).ToList();
        start.Release(20);
        var answers = await Task.WhenAll(posts);

        Assert.All(answers, a => Assert.Equal(HttpStatusCode.Created, a.StatusCode));
        Assert.Single(answers.Select(a => a.Body).Distinct());
        Assert.Single(answers, a => !a.Replayed);
        Assert.Equal((1, 1), await CountAsync(name));
    }

    [Fact]
    public async Task The_same_key_with_another_request_gets_422_and_creates_nothing()
    {
        using var api = fixture.Api();
        var (name, other) = (Unique("First request"), Unique("Second request"));
        var key = Guid.NewGuid().ToString();
        using var first = await PostAsync(api.Http, key, new { name, requirements = "Patients must be able to book online." });
        Assert.Equal(HttpStatusCode.Created, first.StatusCode);

        foreach (var body in new object[]
                 {
                     new { name = other, requirements = "Patients must be able to book online." },
                     new { name, requirements = "Patients must be able to book by phone." },
                     new { name, requirements = "Patients must be able to book online.", budget_usd = 1m },
                     new { name, requirements = "Patients must be able to book online.", requires_gpu = true },
                 })
        {
            using var reused = await PostAsync(api.Http, key, body);
            var problem = await AgentBusClient.ProblemAsync(reused, HttpStatusCode.UnprocessableEntity);
            Assert.Contains("different request", (string?)problem["detail"]);
            Assert.Null(reused.Headers.Location);
        }
        Assert.Equal((0, 0), await CountAsync(other));
        Assert.Equal((1, 1), await CountAsync(name));

        // The key still stands for its first request.
        using var retry = await PostAsync(api.Http, key, new { name, requirements = "Patients must be able to book online." });
        Assert.Equal(HttpStatusCode.Created, retry.StatusCode);
        Assert.Equal(await first.Content.ReadAsStringAsync(), await retry.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task A_key_belongs_to_its_caller()
    {
        using var alice = fixture.CreateBearerClient(TestJwt.Create(fixture.JwtSigningKey, $"alice-{Guid.NewGuid():N}", "operator"));
        using var bob = fixture.CreateBearerClient(TestJwt.Create(fixture.JwtSigningKey, $"bob-{Guid.NewGuid():N}", "operator"));
        var (name, other) = (Unique("Alice's project"), Unique("Bob's project"));
        var key = Guid.NewGuid().ToString();
        var aliceRequest = new { name, requirements = "Staff must be able to plan shifts." };
        var bobRequest = new { name = other, requirements = "Staff must be able to swap shifts." };

        // Bob's other request with Alice's key is no reuse of her key (no 422): it is his own first use.
        var aliceFirst = await CreatedAsync(alice, key, aliceRequest);
        var bobFirst = await CreatedAsync(bob, key, bobRequest);
        Assert.False(aliceFirst.Replayed || bobFirst.Replayed);
        Assert.NotEqual((string?)aliceFirst.Body["project_id"], (string?)bobFirst.Body["project_id"]);

        // Each caller's retry answers that caller's own first request.
        var aliceRetry = await CreatedAsync(alice, key, aliceRequest);
        var bobRetry = await CreatedAsync(bob, key, bobRequest);
        Assert.True(aliceRetry.Replayed && bobRetry.Replayed);
        Assert.Equal(aliceFirst.Body.ToJsonString(), aliceRetry.Body.ToJsonString());
        Assert.Equal(bobFirst.Body.ToJsonString(), bobRetry.Body.ToJsonString());
        Assert.Equal((1, 1), await CountAsync(name));
        Assert.Equal((1, 1), await CountAsync(other));
    }

    [Theory]
    [InlineData("has space")]
    [InlineData("slash/ed")]
    [InlineData("semi;colon")]
    [InlineData("a,b")]
    [InlineData("\"\"")]
    [InlineData("tab\tbed")]
    public async Task A_malformed_key_gets_400_naming_the_header_and_creates_nothing(string key)
    {
        using var api = fixture.Api();
        var name = Unique("Malformed key");
        using var response = await PostAsync(api.Http, key, new { name, requirements = "Users must be able to export invoices." });
        var problem = await AgentBusClient.ProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.NotNull(problem["errors"]![Header]);
        Assert.Equal((0, 0), await CountAsync(name));
    }

    [Fact]
    public async Task A_key_longer_than_255_characters_gets_400_and_255_are_accepted()
    {
        using var api = fixture.Api();
        var name = Unique("Long key");
        using var tooLong = await PostAsync(api.Http, new string('k', 256), new { name, requirements = "Users must be able to export invoices." });
        Assert.NotNull((await AgentBusClient.ProblemAsync(tooLong, HttpStatusCode.BadRequest))["errors"]![Header]);
        Assert.Equal((0, 0), await CountAsync(name));
        var longest = (Guid.NewGuid().ToString("N") + ":._~-" + new string('K', 255))[..255];
        var first = await CreatedAsync(api.Http, longest, new { name, requirements = "Users must be able to export invoices." });
        var retry = await CreatedAsync(api.Http, longest, new { name, requirements = "Users must be able to export invoices." });
        Assert.True(!first.Replayed && retry.Replayed);
        Assert.Equal((1, 1), await CountAsync(name));
    }

    [Fact]
    public async Task An_expired_key_may_be_used_again_and_keyed_submissions_delete_expired_keys()
    {
        using var api = fixture.Api();
        var (name, other) = (Unique("Before expiry"), Unique("After expiry"));
        var key = Guid.NewGuid().ToString();
        await CreatedAsync(api.Http, key, new { name, requirements = "Users must be able to export invoices." });
        await using var connection = new NpgsqlConnection(await fixture.PostgresConnectionStringAsync());
        await connection.OpenAsync();
        // The key's day is over; and another caller's key expired long ago.
        await using (var age = new NpgsqlCommand(
            """
            UPDATE idempotency_keys SET created_at = now() - interval '25 hours', expires_at = now() - interval '1 hour' WHERE caller = 'key:bootstrap' AND key = @key;
            INSERT INTO idempotency_keys (caller, key, request_hash, project_id, job_id, created_at, expires_at)
              VALUES ('jwt:gone', @key, 'x', gen_random_uuid(), gen_random_uuid(), now() - interval '3 days', now() - interval '2 days')
            """, connection))
        {
            age.Parameters.AddWithValue("key", key);
            Assert.Equal(2, await age.ExecuteNonQueryAsync());
        }

        var again = await CreatedAsync(api.Http, key, new { name = other, requirements = "Users must be able to import invoices." });
        Assert.False(again.Replayed);
        Assert.Equal((1, 1), await CountAsync(other));
        await using var left = new NpgsqlCommand("SELECT caller, project_id FROM idempotency_keys WHERE key = $1", connection);
        left.Parameters.AddWithValue(key);
        var rows = new List<(string Caller, Guid ProjectId)>();
        await using (var reader = await left.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                rows.Add((reader.GetString(0), reader.GetGuid(1)));
            }
        }
        Assert.Equal(new[] { ("key:bootstrap", Guid.Parse((string)again.Body["project_id"]!)) }, rows);
    }

    [Fact]
    public async Task Without_the_header_every_submission_creates()
    {
        using var api = fixture.Api();
        var name = Unique("No key");
        await api.CreateProjectAsync(name, "Users must be able to export invoices.");
        await api.CreateProjectAsync(name, "Users must be able to export invoices.");
        Assert.Equal((2, 2), await CountAsync(name));
    }

    [Fact]
    public async Task The_openapi_document_describes_the_header_and_the_422()
    {
        using var api = fixture.Api();
        using var openapi = JsonDocument.Parse(await api.Http.GetStringAsync("/openapi/v1.json"));
        var post = openapi.RootElement.GetProperty("paths").GetProperty("/api/projects").GetProperty("post");
        var header = post.GetProperty("parameters").EnumerateArray().Single(p => p.GetProperty("name").GetString() == Header);
        Assert.Equal("header", header.GetProperty("in").GetString());
        Assert.False(header.TryGetProperty("required", out var required) && required.GetBoolean());
        Assert.Contains("24 hours", header.GetProperty("description").GetString());
        Assert.True(post.GetProperty("responses").TryGetProperty("422", out _));
    }

    private static string Unique(string name) => $"{name} {Guid.NewGuid():N}";

    private static async Task<HttpResponseMessage> PostAsync(HttpClient client, string key, object body)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/projects") { Content = JsonContent.Create(body) };
        Assert.True(request.Headers.TryAddWithoutValidation(Header, key));
        return await client.SendAsync(request);
    }

    private static async Task<(JsonObject Body, bool Replayed)> CreatedAsync(HttpClient client, string key, object body)
    {
        using var response = await PostAsync(client, key, body);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return ((await response.Content.ReadFromJsonAsync<JsonObject>())!, response.Headers.Contains("Idempotent-Replayed"));
    }

    /// <summary>How many projects have this name, and how many jobs they have, as stored.</summary>
    private async Task<(int Projects, int Jobs)> CountAsync(string name)
    {
        await using var connection = new NpgsqlConnection(await fixture.PostgresConnectionStringAsync());
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            "SELECT (SELECT count(*) FROM projects WHERE name = $1)::int, (SELECT count(*) FROM jobs JOIN projects USING (project_id) WHERE name = $1)::int", connection);
        command.Parameters.AddWithValue(name);
        await using var reader = await command.ExecuteReaderAsync();
        await reader.ReadAsync();
        return (reader.GetInt32(0), reader.GetInt32(1));
    }
}
