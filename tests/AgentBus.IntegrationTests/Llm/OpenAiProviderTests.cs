using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Npgsql;

namespace AgentBus.IntegrationTests.Llm;

public sealed class OpenAiProviderTests(OpenAiAppFixture fixture) : IClassFixture<OpenAiAppFixture>
{
    [Fact]
    public async Task A_whole_job_runs_through_an_openai_compatible_server_and_usage_metrics_and_stored_calls_agree()
    {
        // The fixture is shared with the other test of this class, which may run first: look only
        // at this job's requests and rows; the counters are compared with every stored call.
        using var api = fixture.Api();
        var before = fixture.ModelServer.Requests.Count;
        var (_, jobId) = await api.RunJobAsync("Through OpenAI");

        var seen = fixture.ModelServer.Requests.Skip(before).ToArray();
        Assert.Equal(10, seen.Length);
        Assert.All(seen, r => Assert.Equal($"Bearer {OpenAiAppFixture.ApiKey}", r.Headers["authorization"]));
        Assert.Equal(9, seen.Count(r => (string?)r.Body["model"] == "gpt-4o-mini"));
        Assert.Single(seen, r => (string?)r.Body["model"] == OpenAiAppFixture.UnpricedModel);

        var usage = (await api.Http.GetFromJsonAsync<JsonObject>($"/api/jobs/{jobId}/usage"))!;
        Assert.Equal(10, (long)usage["calls"]!);
        Assert.Equal(10 * 64, (long)usage["cache_read_tokens"]!);
        Assert.Null(usage["cost_usd"]);                       // one call's model has no price
        Assert.Equal(1, (long)usage["unpriced_calls"]!);
        Assert.True((decimal)usage["known_cost_usd"]! > 0);
        var unpriced = usage["by_agent"]!.AsArray().Single(a => (string?)a!["agent_type"] == "support_engineer")!;
        Assert.Null(unpriced["cost_usd"]);

        // The stored calls, the usage endpoint and the worker's counters tell the same story.
        await using var db = new NpgsqlConnection(await fixture.PostgresConnectionStringAsync());
        await db.OpenAsync();
        var job = await SumCallsAsync(db, jobId);
        Assert.Equal((long)usage["input_tokens"]!, job.Input);
        Assert.Equal((long)usage["output_tokens"]!, job.Output);
        Assert.Equal((decimal)usage["known_cost_usd"]!, job.Cost);
        var (input, output, cacheRead, cost, unknown) = await SumCallsAsync(db, jobId: null);

        using var worker = fixture.CreateClient("worker");
        var metrics = PrometheusText.Parse(await worker.GetStringAsync("/metrics"));
        Assert.Equal(input, metrics.Sum("agent_bus_agent_llm_tokens_total", l => l["provider"] == "openai" && l["type"] == "input"));
        Assert.Equal(output, metrics.Sum("agent_bus_agent_llm_tokens_total", l => l["provider"] == "openai" && l["type"] == "output"));
        Assert.Equal(cacheRead, metrics.Sum("agent_bus_agent_llm_tokens_total", l => l["provider"] == "openai" && l["type"] == "cache_read"));
        Assert.Equal((double)cost, metrics.Sum("agent_bus_agent_llm_cost_usd_total", l => l["model"] == "gpt-4o-mini"), 9);
        Assert.Equal(unknown, metrics.Sum("agent_bus_agent_llm_cost_unknown_total", l => l["model"] == OpenAiAppFixture.UnpricedModel));
        Assert.Contains(metrics.Samples, s => s.Name == "gen_ai_client_token_usage_bucket" && s.Labels.GetValueOrDefault("gen_ai_provider_name") == "openai");
    }

    private static async Task<(long Input, long Output, long CacheRead, decimal Cost, long Unknown)> SumCallsAsync(NpgsqlConnection db, Guid? jobId)
    {
        await using var sums = new NpgsqlCommand(
            """
            SELECT sum(input_tokens), sum(output_tokens), sum(cache_read_tokens), coalesce(sum(cost_usd), 0),
                   count(*) FILTER (WHERE cost_usd IS NULL)
            FROM llm_calls WHERE @job_id::uuid IS NULL OR job_id = @job_id
            """, db);
        sums.Parameters.Add(new NpgsqlParameter<Guid?>("job_id", jobId));
        await using var reader = await sums.ExecuteReaderAsync();
        await reader.ReadAsync();
        return (reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetDecimal(3), reader.GetInt64(4));
    }

    [Fact]
    public async Task The_api_key_never_appears_in_logs_or_metrics()
    {
        using var api = fixture.Api();
        await api.RunJobAsync("Secret keeping");
        await Task.Delay(TimeSpan.FromSeconds(2)); // let the last log lines arrive

        Assert.NotEmpty(fixture.Logs);
        Assert.DoesNotContain(fixture.Logs, line => line.Content.Contains(OpenAiAppFixture.ApiKey, StringComparison.Ordinal));
        foreach (var service in AgentBusAppFixture.Services)
        {
            using var client = fixture.CreateClient(service);
            Assert.DoesNotContain(OpenAiAppFixture.ApiKey, await client.GetStringAsync("/metrics"));
        }
        Assert.Contains(fixture.Logs, line => line.Resource == "worker" && line.Content.Contains("\"event\":\"stage_completed\"", StringComparison.Ordinal));
    }
}
