using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Npgsql;

namespace AgentBus.IntegrationTests.Security;

/// <summary>
/// A real workload (a job approved through to completion, refused and unknown requests, a provider
/// error) under recognisable secrets; then everything the system emitted (every resource's log
/// lines, the OTLP exports, /metrics of each service, every job event, the error bodies) is
/// searched for each secret, plain, base64 and URL-encoded.
/// </summary>
[Collection(SecurityCollection.Name)]
public sealed class SecretsTests(SecurityFixture fixture)
{
    [Fact]
    public async Task No_configured_secret_reaches_a_log_line_metric_event_export_or_error_body()
    {
        var secrets = await SecretsAsync();
        using var api = fixture.Api();
        var emitted = new List<(string Where, string Text)>();

        // The key is really used: the provider is called with it.
        var (_, completed) = await api.RunJobAsync("Secrets: the happy path");
        Assert.Contains(fixture.ModelServer.Requests, r => r.Headers.GetValueOrDefault("authorization") == $"Bearer {fixture.OpenAIApiKey}");

        // Refused and unknown requests.
        foreach (var (method, url, body) in new (HttpMethod, string, string?)[]
                 {
                     (HttpMethod.Post, "/api/projects", "{}"), (HttpMethod.Post, "/api/projects", "{\"name\":"),
                     (HttpMethod.Get, $"/api/jobs/{Guid.NewGuid()}", null), (HttpMethod.Get, "/api/jobs/not-a-guid", null),
                     (HttpMethod.Post, $"/api/jobs/{completed}/approve", "{}"), (HttpMethod.Get, "/api/projects?limit=-1", null),
                 })
        {
            using var request = new HttpRequestMessage(method, url) { Content = body is null ? null : new StringContent(body, Encoding.UTF8, "application/json") };
            using var response = await api.Http.SendAsync(request);
            Assert.InRange((int)response.StatusCode, 400, 499);
            emitted.Add(($"{method} {url} answer", await response.Content.ReadAsStringAsync()));
        }

        // A key made through the API, used, revoked and tried again; a JWT used and a forged one refused.
        using (var created = await api.Http.PostAsJsonAsync("/api/keys", new { name = "secrets check", role = "operator" }))
        {
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
            var key = (await created.Content.ReadFromJsonAsync<JsonObject>())!;
            secrets.Add(("created api key", (string)key["key"]!));
            using var operatorClient = fixture.CreateClient("api", (string)key["key"]!);
            Assert.Equal(HttpStatusCode.OK, (await operatorClient.GetAsync("/api/projects")).StatusCode);
            (await api.Http.DeleteAsync($"/api/keys/{key["id"]}")).Dispose();
            using var refused = await operatorClient.GetAsync("/api/projects");
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
            emitted.Add(("revoked key answer", await refused.Content.ReadAsStringAsync()));
        }
        var token = TestJwt.Create(fixture.JwtSigningKey, "secrets-check", "viewer");
        secrets.Add(("jwt", token));
        using (var bearer = fixture.CreateBearerClient(token))
        {
            Assert.Equal(HttpStatusCode.OK, (await bearer.GetAsync("/api/projects")).StatusCode);
        }
        using (var forged = fixture.CreateBearerClient(TestJwt.Create("not-the-signing-key-" + Guid.NewGuid(), "forger", "admin")))
        using (var refused = await forged.GetAsync("/api/projects"))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
            emitted.Add(("forged jwt answer", await refused.Content.ReadAsStringAsync()));
        }

        // A provider error: the model endpoint refuses the key, the job fails and says why.
        fixture.ModelServer.Then(Enumerable.Repeat(new FakeModelServer.Scripted(401), 5).ToArray());
        var failing = await api.CreateProjectAsync("Secrets: the provider refuses");
        var failed = await api.WaitForStatusAsync(failing.JobId, "failed");
        emitted.Add(("failed job", failed.ToJsonString()));

        foreach (var service in AgentBusAppFixture.Services)
        {
            using var http = fixture.CreateClient(service);
            emitted.Add(($"{service} /metrics", await http.GetStringAsync("/metrics")));
        }
        emitted.AddRange((await JobEventsAsync()).Select(e => ("job event", e)));
        // Let the batched OTLP log exports of the last lines go out (200 ms schedule).
        await Task.Delay(TimeSpan.FromSeconds(1));
        emitted.AddRange(fixture.Logs.ToArray().Select(l => ($"{l.Resource} log", l.Content)));
        emitted.AddRange(fixture.Otlp.Raw.ToArray().Select(r => ($"OTLP {r.Path}", Encoding.UTF8.GetString(r.Body))));

        // The search covered real output: lines of every service, exported logs, the failed job's events.
        Assert.All(AgentBusAppFixture.Services.Concat(["postgres", "redis"]), s => Assert.Contains(emitted, e => e.Where == $"{s} log"));
        Assert.Contains(emitted, e => e.Where == "OTLP /v1/logs");
        Assert.Contains(emitted, e => e.Where == "job event" && e.Text.Contains(failing.JobId.ToString(), StringComparison.Ordinal));

        var leaks = (from e in emitted
                     from s in secrets
                     from form in Forms(s.Value)
                     where e.Text.Contains(form, StringComparison.Ordinal)
                     select $"{s.Name} in {e.Where}: {Excerpt(e.Text, form)}").Distinct().ToList();
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"secrets: {secrets.Count} secrets searched in {emitted.Count} emitted texts ({emitted.Sum(e => e.Text.Length):N0} chars); {leaks.Count} leaks");
        Assert.True(leaks.Count == 0, string.Join("\n", leaks.Take(20)));
    }

    private async Task<List<(string Name, string Value)>> SecretsAsync()
    {
        var postgres = new NpgsqlConnectionStringBuilder(await fixture.ConnectionStringAsync("postgres")).Password;
        var postgresApp = new NpgsqlConnectionStringBuilder(await fixture.ConnectionStringAsync(AgentBusAppFixture.AppConnectionString)).Password;
        var redis = (await fixture.ConnectionStringAsync("redis")).Split(',')
            .Select(p => p.Split('=', 2)).Single(p => p[0].Trim() == "password")[1];
        List<(string, string)> secrets =
        [
            ("postgres password", postgres!), ("postgres app role password", postgresApp!), ("redis password", redis), ("openai api key", fixture.OpenAIApiKey),
            ("anthropic api key", fixture.AnthropicApiKey), ("api admin key", fixture.AdminApiKey),
            ("jwt signing key", fixture.JwtSigningKey),
        ];
        Assert.All(secrets, s => Assert.True(s.Item2.Length >= 16, $"{s.Item1} is too short to be recognisable"));
        return secrets;
    }

    private static string[] Forms(string secret) => [secret, Convert.ToBase64String(Encoding.UTF8.GetBytes(secret)), Uri.EscapeDataString(secret)];

    private async Task<List<string>> JobEventsAsync()
    {
        await using var connection = new NpgsqlConnection(await fixture.PostgresConnectionStringAsync());
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT job_id::text || ' ' || type || ' ' || coalesce(stage, '') || ' ' || data::text FROM job_events", connection);
        var events = new List<string>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            events.Add(reader.GetString(0));
        }
        return events;
    }

    private static string Excerpt(string text, string secret)
    {
        var at = text.IndexOf(secret, StringComparison.Ordinal);
        return text.Substring(Math.Max(0, at - 80), Math.Min(text.Length - Math.Max(0, at - 80), 160 + secret.Length)).ReplaceLineEndings(" ");
    }
}
