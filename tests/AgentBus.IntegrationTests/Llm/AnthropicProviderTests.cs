using System.Net.Http.Json;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using Npgsql;

namespace AgentBus.IntegrationTests.Llm;

public sealed class AnthropicProviderTests(AnthropicAppFixture fixture) : IClassFixture<AnthropicAppFixture>
{
    /// <summary>Long enough that the prefix every stage shares (requirements and PRD) passes Anthropic's 1,024-token caching minimum.</summary>
    private static readonly string Requirements = string.Join(' ',
        "Patients must be able to book, move and cancel appointments online from a phone or a computer.",
        "Doctors should see their daily schedule with each patient's reason for the visit and their history.",
        "Receptionists can register walk-in patients and print a day sheet for each doctor.",
        "The system must send SMS and email reminders 24 hours before each appointment.",
        "Patients can fill in an intake questionnaire before their first visit.",
        "Doctors must be able to write visit notes and prescriptions that patients can read afterwards.",
        "Admins can manage clinic opening hours, holidays and each doctor's working days.",
        "Patients can pay their share of a visit by card when they book or at the desk.",
        "The clinic manager wants a weekly report of no-shows, cancellations and waiting times.",
        "Patients must be able to download every document the clinic holds about them.",
        "Doctors can refer a patient to a colleague, who sees the referral in their inbox.",
        "Lab results arrive from the partner laboratory and are attached to the patient's record.",
        "The waiting room screen shows the next patient numbers without names.",
        "Nurses can record blood pressure, weight and vaccinations during a visit.",
        "Patients can join a waiting list for earlier slots and get offered freed ones.",
        "The site must be secure, GDPR compliant and available 99.9% of the time.",
        "Pages must load within two seconds on a mobile connection.");

    [Fact]
    public async Task A_whole_job_completes_on_the_messages_api_with_structured_output_cache_breakpoints_and_priced_cache_tokens()
    {
        using var api = fixture.Api();
        var server = fixture.ModelServer;
        var (requestsBefore, servedBefore) = (server.Requests.Count, server.Served.Count);
        var (_, jobId) = await api.CreateProjectAsync("Through Anthropic", Requirements);
        await api.WaitForStatusAsync(jobId, "waiting_for_approval", TimeSpan.FromSeconds(90));
        (await api.ActAsync(jobId, "approve")).Dispose();
        await api.WaitForStatusAsync(jobId, "completed", TimeSpan.FromSeconds(120));

        var seen = server.Requests.Skip(requestsBefore).ToArray();
        Assert.Equal(10, seen.Length);
        Assert.All(seen, r => Assert.Equal($"Bearer {AnthropicAppFixture.ApiKey}", r.Headers["authorization"]));
        // The plan's schema travels as Anthropic's structured output; no other stage sends one.
        var plan = Assert.Single(seen, r => r.HadSchema);
        Assert.Contains("estimate_days", (plan.Body["output_config"] ?? plan.Body["output_format"])!.ToJsonString());
        Assert.All(seen, r => Assert.Contains("\"cache_control\"", r.Body.ToJsonString()));

        // Every stage after the PRD reads the cached prefix the first of them wrote.
        var usage = (await api.Http.GetFromJsonAsync<JsonObject>($"/api/jobs/{jobId}/usage"))!;
        var served = server.Served.Skip(servedBefore).ToArray();
        Assert.Equal(served.Length, (long)usage["calls"]!);
        Assert.Equal(served.Sum(s => s.InputTokens), (long)usage["input_tokens"]!);
        Assert.Equal(served.Sum(s => s.OutputTokens), (long)usage["output_tokens"]!);
        Assert.Equal(served.Sum(s => s.CacheReadTokens), (long)usage["cache_read_tokens"]!);
        Assert.Equal(served.Sum(s => s.CacheWriteTokens), (long)usage["cache_write_tokens"]!);
        Assert.True((long)usage["cache_read_tokens"]! > 5_000, usage.ToJsonString());
        Assert.True((long)usage["cache_write_tokens"]! > 1_000, usage.ToJsonString());

        // Each stored call is priced from the table, cache reads and writes at their own prices.
        await using var db = new NpgsqlConnection(await fixture.PostgresConnectionStringAsync());
        await db.OpenAsync();
        await using var calls = new NpgsqlCommand(
            "SELECT model, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cost_usd FROM llm_calls WHERE job_id = $1", db);
        calls.Parameters.AddWithValue(jobId);
        await using var reader = await calls.ExecuteReaderAsync();
        var rows = 0;
        while (await reader.ReadAsync())
        {
            rows++;
            var (input, output, read, write) = (reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3), reader.GetInt64(4));
            var expected = reader.GetString(0) == AnthropicAppFixture.SmallModel
                ? (input * 1m + output * 5m + read * 0.10m + write * 1.25m) / 1_000_000m
                : (input * 3m + output * 15m + read * 0.30m + write * 3.75m) / 1_000_000m;
            Assert.Equal(expected, reader.GetDecimal(5));
        }
        Assert.Equal(10, rows);
        Assert.Equal((decimal)usage["cost_usd"]!, (decimal)usage["known_cost_usd"]!);

        // The small-window agent's prompt was cut to fit, said so, and went out within the window.
        var events = await fixture.EventsAsync(jobId);
        var reduced = Assert.Single(events, e => (string?)e["type"] == "context_reduced");
        Assert.Equal("support_docs", (string?)reduced["stage"]);
        Assert.Equal(AnthropicAppFixture.SmallModel, (string?)reduced["data"]!["model"]);
        Assert.True((int)reduced["data"]!["sent_tokens"]! <= AnthropicAppFixture.SmallWindow / 2);
        Assert.True((int)reduced["data"]!["prompt_tokens"]! > AnthropicAppFixture.SmallWindow / 2);
        Assert.NotEmpty(reduced["data"]!["cuts"]!.AsArray());
        var support = Assert.Single(seen, r => (string?)r.Body["model"] == AnthropicAppFixture.SmallModel);
        Assert.Equal(AnthropicAppFixture.SmallWindow / 2, (int)support.Body["max_tokens"]!);
        Assert.Contains("was cut so the prompt fits claude-haiku-4-5's context window",
            support.Body["messages"]!.ToJsonString(new JsonSerializerOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }));
    }
}
