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
        // The server answers prose unless asked for a schema: the plan asked, as json_schema, strictly.
        var plan = Assert.Single(seen, r => r.HadSchema);
        Assert.Equal("json_schema", (string?)plan.Body["response_format"]!["type"]);
        Assert.Equal("delivery_plan", (string?)plan.Body["response_format"]!["json_schema"]!["name"]);
        Assert.True((bool?)plan.Body["response_format"]!["json_schema"]!["strict"]);
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

    [Fact]
    public async Task A_broken_plan_answer_is_repaired_in_the_same_conversation_and_both_calls_are_paid()
    {
        using var api = fixture.Api();
        var (_, jobId) = await api.CreateProjectAsync("Repaired plan");
        await api.WaitForStatusAsync(jobId, "waiting_for_approval");
        var before = fixture.ModelServer.Requests.Count;
        const string broken = """{"milestones": [{"id": "M1", "name": "Booking", "tasks": [{"id": "T1",,""";
        fixture.ModelServer.Then(new FakeModelServer.Scripted(200, Content: broken));
        (await api.ActAsync(jobId, "approve")).Dispose();
        await api.WaitForStatusAsync(jobId, "completed");

        var plans = fixture.ModelServer.Requests.Skip(before).Where(r => r.Body.ToJsonString().Contains("You are the plan_agent.", StringComparison.Ordinal)).ToArray();
        Assert.Equal(2, plans.Length);
        var repair = plans[1].Body["messages"]!.AsArray();
        Assert.Equal(["system", "user", "assistant", "user"], repair.Select(m => (string)m!["role"]!));
        Assert.Equal(broken, Text(repair[2]!["content"]));
        Assert.Contains("Your answer cannot be used: the answer was not valid JSON", Text(repair[3]!["content"]));
        Assert.True(plans[1].HadSchema);

        var events = await fixture.EventsAsync(jobId);
        var repaired = Assert.Single(events, e => (string?)e["type"] == "answer_repaired");
        Assert.Equal("plan", (string?)repaired["stage"]);
        Assert.Contains("not valid JSON", (string?)repaired["data"]!["problem"]);
        Assert.DoesNotContain(events, e => (string?)e["type"] == "stage_retry");
        var usage = (await api.Http.GetFromJsonAsync<JsonObject>($"/api/jobs/{jobId}/usage"))!;
        Assert.Equal(11, (long)usage["calls"]!);
        Assert.Equal(2, (long)usage["by_agent"]!.AsArray().Single(a => (string?)a!["agent_type"] == "plan_agent")!["calls"]!);
        var stored = JsonNode.Parse((string)(await api.ArtifactAsync(jobId, "plan"))["content"]!)!;
        Assert.NotEmpty(stored["milestones"]!.AsArray());
    }

    [Fact]
    public async Task A_nul_character_in_an_answer_is_dropped_not_stored_and_not_mistaken_for_a_database_outage()
    {
        using var api = fixture.Api();
        fixture.ModelServer.Then(new FakeModelServer.Scripted(200, Content: "# Nul\0 project: Product Requirements Document\n\n## Requirements\n\n- FR-1: Users sign in.\0 (S1)\n"));
        var (_, jobId) = await api.CreateProjectAsync("Nul project", "Users must sign in.");
        await api.WaitForStatusAsync(jobId, "waiting_for_approval");
        var prd = (string)(await api.ArtifactAsync(jobId, "prd"))["content"]!;
        Assert.Equal("# Nul project: Product Requirements Document\n\n## Requirements\n\n- FR-1: Users sign in. (S1)\n", prd);
        Assert.DoesNotContain(await fixture.EventsAsync(jobId), e => (string?)e["type"] == "stage_retry");
    }

    [Fact]
    public async Task A_plan_answer_broken_twice_fails_the_attempt_naming_the_problem_and_the_retry_completes()
    {
        using var api = fixture.Api();
        var (_, jobId) = await api.CreateProjectAsync("Twice broken plan");
        await api.WaitForStatusAsync(jobId, "waiting_for_approval");
        fixture.ModelServer.Then(new FakeModelServer.Scripted(200, Content: "I would plan this in three milestones."),
            new FakeModelServer.Scripted(200, Content: "{\"milestones\": []}", FinishReason: "length"));
        (await api.ActAsync(jobId, "approve")).Dispose();
        await api.WaitForStatusAsync(jobId, "completed");

        var retry = Assert.Single(await fixture.EventsAsync(jobId), e => (string?)e["type"] == "stage_retry");
        Assert.Equal("plan", (string?)retry["stage"]);
        Assert.Equal("bad_output", (string?)retry["data"]!["error_code"]);
        Assert.Equal("plan_agent's answer could not be used after a repair turn: the answer was cut off at the output limit of 8000 tokens "
            + "(and in the first answer: the answer contained no JSON object)", (string?)retry["data"]!["error"]);
        var usage = (await api.Http.GetFromJsonAsync<JsonObject>($"/api/jobs/{jobId}/usage"))!;
        Assert.Equal(3, (long)usage["by_agent"]!.AsArray().Single(a => (string?)a!["agent_type"] == "plan_agent")!["calls"]!);
    }

    [Fact]
    public async Task A_prd_that_still_drops_a_sentence_after_its_repair_turn_shows_the_sentence_to_the_reviewer()
    {
        using var api = fixture.Api();
        const string name = "Forgetful writer";
        // This writer drops the third requirement every time, even when told.
        fixture.ModelServer.Rewrite = (agent, answer) => agent == "prd_agent" && answer.Contains(name, StringComparison.Ordinal)
            ? string.Join('\n', answer.Split('\n').Where(line => !line.Contains("(S3)", StringComparison.Ordinal) && !line.Contains("FR-3", StringComparison.Ordinal)))
            : answer;
        try
        {
            var before = fixture.ModelServer.Requests.Count;
            var (_, jobId) = await api.CreateProjectAsync(name,
                "Patients must be able to book appointments online. Doctors should see their daily schedule. SMS reminders 24h before.");
            await api.WaitForStatusAsync(jobId, "waiting_for_approval");

            Assert.Equal(2, fixture.ModelServer.Requests.Skip(before).Count());
            var prd = (string)(await api.ArtifactAsync(jobId, "prd"))["content"]!;
            Assert.DoesNotContain("FR-3", prd);
            Assert.Contains("## Requirement sentences not traced", prd);
            Assert.Contains("S3: SMS reminders 24h before.", prd);
            var untraced = Assert.Single(await fixture.EventsAsync(jobId), e => (string?)e["type"] == "requirements_untraced");
            Assert.Equal("""[{"id":"S3","text":"SMS reminders 24h before."}]""", untraced["data"]!["sentences"]!.ToJsonString());
        }
        finally
        {
            fixture.ModelServer.Rewrite = null;
        }
    }

    [Fact]
    public async Task Every_requirement_sentence_becomes_a_requirement_and_an_fr_the_qa_plan_leaves_out_is_reported()
    {
        using var api = fixture.Api();
        const string name = "Reminder clinic";
        fixture.ModelServer.Rewrite = (agent, answer) =>
            agent == "qa_agent" && answer.Contains(name, StringComparison.Ordinal) ? answer.Replace("FR-3", "the reminders", StringComparison.Ordinal) : answer;
        try
        {
            var (_, jobId) = await api.CreateProjectAsync(name,
                "Patients must be able to book appointments online. Doctors should see their daily schedule. SMS reminders 24h before.");
            await api.WaitForStatusAsync(jobId, "waiting_for_approval");
            var prd = (string)(await api.ArtifactAsync(jobId, "prd"))["content"]!;
            Assert.Matches(@"FR-3: .*SMS reminders 24h before.*\(S3\)", prd);
            (await api.ActAsync(jobId, "approve")).Dispose();
            await api.WaitForStatusAsync(jobId, "completed");

            var review = (string)(await api.ArtifactAsync(jobId, "pm_review"))["content"]!;
            Assert.Contains("| FR-3 | yes | yes | no | yes |", review);
            Assert.Contains("| FR-1 | yes | yes | yes | yes |", review);
            var events = await fixture.EventsAsync(jobId);
            var uncovered = Assert.Single(events, e => (string?)e["type"] == "requirements_uncovered");
            Assert.Equal("pm_review", (string?)uncovered["stage"]);
            Assert.Equal("""[{"id":"FR-3","missing_from":["qa"]}]""", uncovered["data"]!["requirements"]!.ToJsonString());
            var delivery = JsonNode.Parse((string)(await api.ArtifactAsync(jobId, "delivery"))["content"]!)!;
            Assert.Equal("""[{"id":"FR-3","missing_from":["qa"]}]""", delivery["requirements"]!["uncovered"]!.ToJsonString());
            Assert.Equal(3, delivery["requirements"]!["functional"]!.AsArray().Count);
        }
        finally
        {
            fixture.ModelServer.Rewrite = null;
        }
    }

    /// <summary>A message's content as OpenAI carries it: a string, or text parts.</summary>
    private static string Text(JsonNode? content) =>
        content is JsonArray parts ? string.Concat(parts.Select(p => (string?)p!["text"])) : (string?)content ?? "";

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
