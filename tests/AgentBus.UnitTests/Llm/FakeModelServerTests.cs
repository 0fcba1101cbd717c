using System.ClientModel;
using System.ClientModel.Primitives;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using AgentBus.Llm;
using Anthropic;
using Anthropic.Models.Messages;
using Microsoft.Extensions.AI;
using OpenAI;

namespace AgentBus.UnitTests.Llm;

/// <summary>
/// The fake model server, driven through the real SDK clients as the product builds them: structured
/// output honoured or refused, prose without a schema, scripted answers, Anthropic prompt caching
/// from the request's breakpoints, and what it counted agreeing with what the SDKs report.
/// </summary>
public sealed class FakeModelServerTests : IAsyncLifetime
{
    private const string Anthropic = LlmProviders.Anthropic;
    private const string OpenAI = LlmProviders.OpenAI;

    private static readonly JsonSerializerOptions Snake = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    private const string PlanPrompt = """
        You are the plan_agent.
        <project name="Clinic">
        <requirements>
        [S1] Users can sign in.
        [S2] Patients can book appointments online.
        </requirements>
        <artifact type="prd" version="1">
        # Clinic: Product Requirements Document

        ## Requirements

        - FR-1: Users can sign in. (S1)
        - FR-2: Patients can book appointments online. (S2)
        </artifact>
        </project>
        """;

    private FakeModelServer _server = null!;

    public async ValueTask InitializeAsync() => _server = await FakeModelServer.StartAsync();

    public async ValueTask DisposeAsync() => await _server.DisposeAsync();

    public static TheoryData<string> Providers => new(Anthropic, OpenAI);

    public sealed record PlanTask(string Id, string Title, string[] Requirements, int EstimateDays, string[] DependsOn);
    public sealed record PlanMilestone(string Id, string Name, string Goal, PlanTask[] Tasks);
    public sealed record DeliveryPlan(PlanMilestone[] Milestones, string[] Assumptions);

    private static ChatOptions PlanSchema => new()
    {
        ResponseFormat = ChatResponseFormat.ForJsonSchema(AIJsonUtilities.CreateJsonSchema(typeof(DeliveryPlan), serializerOptions: Snake), "delivery_plan", "The delivery plan"),
    };

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Without_a_schema_a_json_plan_is_answered_as_prose_with_no_braces(string provider)
    {
        var response = await Client(provider).GetResponseAsync(Plan(), new ChatOptions { MaxOutputTokens = 8000 });

        Say($"{provider} prose:\n{response.Text}");
        Assert.StartsWith("Here is the plan I propose.", response.Text);
        Assert.DoesNotContain("{", response.Text, StringComparison.Ordinal);
        Assert.DoesNotContain("}", response.Text, StringComparison.Ordinal);
        Assert.Contains("Milestone M1: Foundation", response.Text);
        Assert.Matches(@"- Task T\d+: Users can sign in\b.*, covers FR-1", response.Text);
        Assert.Contains("covers FR-2", response.Text);
        var seen = Assert.Single(_server.Requests);
        Assert.False(seen.HadSchema);
        Assert.Equal("plan_agent", seen.AgentType);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task With_a_json_schema_the_plan_is_json_that_validates(string provider)
    {
        var response = await Client(provider).GetResponseAsync(Plan(), PlanSchema);

        var plan = JsonSerializer.Deserialize<DeliveryPlan>(response.Text, Snake)!;
        var tasks = plan.Milestones.SelectMany(m => m.Tasks).ToList();
        Assert.Equal(["FR-1", "FR-2"], tasks.SelectMany(t => t.Requirements));
        Assert.StartsWith("Users can sign in", tasks.Single(t => t.Requirements.Contains("FR-1")).Title, StringComparison.Ordinal);
        Assert.Contains("2 functional requirements from the approved PRD", plan.Assumptions);

        var seen = Assert.Single(_server.Requests);
        Assert.True(seen.HadSchema);
        Say($"{provider} request: {seen.Body.ToJsonString()}");
        if (provider == Anthropic)
        {
            // Anthropic 13.x sends the native structured output shape, without the name or description.
            Assert.Equal("json_schema", (string?)seen.Body["output_config"]!["format"]!["type"]);
            Assert.Equal("object", (string?)seen.Body["output_config"]!["format"]!["schema"]!["type"]);
            Assert.Null(seen.Body["output_format"]);
        }
        else
        {
            Assert.Equal("json_schema", (string?)seen.Body["response_format"]!["type"]);
            Assert.Equal("delivery_plan", (string?)seen.Body["response_format"]!["json_schema"]!["name"]);
            Assert.Equal("object", (string?)seen.Body["response_format"]!["json_schema"]!["schema"]!["type"]);
        }
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task A_schema_the_answer_violates_is_refused_with_400_naming_the_errors(string provider)
    {
        // The writer's plan has no "summary", and its estimate_days are integers, not strings. (The
        // SDKs make every object of the schema closed, additionalProperties: false, so its other fields are reported too.)
        var schema = JsonDocument.Parse("""
            {"type":"object","required":["milestones","summary"],"properties":{
              "summary":{"type":"string"},
              "milestones":{"type":"array","items":{"type":"object","properties":{"tasks":{"type":"array","items":{"type":"object","properties":{"estimate_days":{"type":"string"}}}}}}}}}
            """).RootElement;
        var e = await Assert.ThrowsAnyAsync<Exception>(() => Client(provider).GetResponseAsync(Plan(), new ChatOptions { ResponseFormat = ChatResponseFormat.ForJsonSchema(schema, "delivery_plan") }));

        Say($"{provider}: {e.GetType().Name}: {e.Message}");
        Assert.Matches("400|BadRequest", e.Message);
        Assert.Contains("does not match the request's JSON schema", e.Message);
        Assert.Contains("(root): Required properties [\"summary\"] are not present", e.Message.Replace("\\\"", "\"", StringComparison.Ordinal));
        Assert.Contains("/milestones/0/tasks/0/estimate_days: Value is \"integer\" but should be \"string\"", e.Message.Replace("\\\"", "\"", StringComparison.Ordinal));
        Assert.Empty(_server.Served);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task A_writer_answer_that_is_not_json_is_refused_when_a_schema_is_asked(string provider)
    {
        var qa = new List<ChatMessage> { new(ChatRole.User, PlanPrompt.Replace("plan_agent", "qa_agent", StringComparison.Ordinal)) };
        var e = await Assert.ThrowsAnyAsync<Exception>(() => Client(provider).GetResponseAsync(qa, PlanSchema));
        Assert.Contains("the answer is not JSON", e.Message);
    }

    [Fact]
    public async Task The_older_anthropic_output_format_shape_is_honoured_too()
    {
        using var http = new HttpClient { BaseAddress = _server.BaseUrl };
        var schema = JsonNode.Parse(AIJsonUtilities.CreateJsonSchema(typeof(DeliveryPlan), serializerOptions: Snake).GetRawText());
        using var request = new HttpRequestMessage(HttpMethod.Post, "v1/messages")
        {
            Content = JsonContent.Create(new JsonObject
            {
                ["model"] = "claude-sonnet-4-5", ["max_tokens"] = 8000,
                ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = PlanPrompt }),
                ["output_format"] = new JsonObject { ["type"] = "json_schema", ["schema"] = schema },
            }),
        };
        request.Headers.Add("anthropic-beta", "structured-outputs-2025-11-13");
        using var response = await http.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var message = (await response.Content.ReadFromJsonAsync<JsonObject>())!;
        var plan = JsonSerializer.Deserialize<DeliveryPlan>((string)message["content"]![0]!["text"]!, Snake)!;
        Assert.Equal(2, plan.Assumptions.Length);
        Assert.True(Assert.Single(_server.Requests).HadSchema);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Scripted_content_is_returned_verbatim_with_its_finish_reason_and_counted(string provider)
    {
        const string Broken = """{"milestones": [{"id": "M1", "name": "Foundat""";
        _server.Then(new FakeModelServer.Scripted(200, Content: Broken, FinishReason: provider == Anthropic ? "max_tokens" : "length"));
        var client = Client(provider);

        var truncated = await client.GetResponseAsync(Plan(), PlanSchema);
        var next = await client.GetResponseAsync(Plan(), PlanSchema);

        Assert.Equal(Broken, truncated.Text);
        Assert.Equal(ChatFinishReason.Length, truncated.FinishReason);
        Assert.Equal(ChatFinishReason.Stop, next.FinishReason);
        Assert.NotNull(JsonSerializer.Deserialize<DeliveryPlan>(next.Text, Snake));
        Assert.Equal(0, _server.Pending);
        var served = _server.Served;
        Assert.Equal(2, served.Count);
        Assert.Equal(OfflineChatClient.CountTokens(Broken), served[0].OutputTokens);
        Assert.Equal(truncated.Usage!.OutputTokenCount, served[0].OutputTokens);
        Assert.Equal(served[1].PromptTokens, served[0].PromptTokens);
        Assert.All(served, s => Assert.Equal("plan_agent", s.AgentType));
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task A_repair_turn_is_answered_from_the_first_user_prompt(string provider)
    {
        var client = Client(provider);
        var first = await client.GetResponseAsync(Plan(), PlanSchema);
        List<ChatMessage> repair =
        [
            .. Plan(),
            new(ChatRole.Assistant, """{"milestones": [{"id": "M1", "name": "Foundat"""),
            new(ChatRole.User, "Your answer was cut off and is not valid JSON. Answer again with the whole plan."),
        ];

        var second = await client.GetResponseAsync(repair, PlanSchema);

        Assert.Equal(first.Text, second.Text);
        var served = _server.Served;
        Assert.Equal(served[0].OutputTokens, served[1].OutputTokens);
        // The repair turn's prompt is longer: the bad answer and the problem are input too.
        Assert.True(served[1].PromptTokens > served[0].PromptTokens, $"{served[1].PromptTokens} <= {served[0].PromptTokens}");
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Rewrite_changes_the_writer_answer_before_it_is_validated(string provider)
    {
        var agents = new List<string>();
        _server.Rewrite = (agent, answer) =>
        {
            agents.Add(agent);
            return answer.Replace("\"FR-2\"", "", StringComparison.Ordinal).Replace("FR-2", "", StringComparison.Ordinal);
        };

        var response = await Client(provider).GetResponseAsync(Plan(), PlanSchema);

        Assert.Equal(["plan_agent"], agents);
        Assert.DoesNotContain("FR-2", response.Text);
        var plan = JsonSerializer.Deserialize<DeliveryPlan>(response.Text, Snake)!;
        Assert.Equal(["FR-1"], plan.Milestones.SelectMany(m => m.Tasks).SelectMany(t => t.Requirements));
    }

    [Fact]
    public async Task Anthropic_a_cached_system_block_is_written_once_then_read_and_no_breakpoint_reports_zeros()
    {
        var system = LongSystem();
        var systemTokens = OfflineChatClient.CountTokens(system);
        Assert.True(systemTokens >= 1024, $"{systemTokens} tokens");
        var userTokens = OfflineChatClient.CountTokens(PlanPrompt);
        var client = Client(Anthropic);
        List<ChatMessage> Cached() => [new(ChatRole.System, [new TextContent(system).WithCacheControl((Ttl?)null)]), new(ChatRole.User, PlanPrompt)];

        var first = LlmUsage.From(await client.GetResponseAsync(Cached()));
        var second = LlmUsage.From(await client.GetResponseAsync(Cached()));
        var plain = LlmUsage.From(await client.GetResponseAsync([new(ChatRole.System, system), new(ChatRole.User, PlanPrompt)]));

        Assert.Equal(Tokens(userTokens, 0, systemTokens), Tokens(first));
        Assert.Equal(Tokens(userTokens, systemTokens, 0), Tokens(second));
        Assert.Equal(Tokens(systemTokens + userTokens, 0, 0), Tokens(plain));
        var wire = _server.Requests.First().Body;
        Say($"anthropic cache request: {wire.ToJsonString()}");
        Assert.Equal("ephemeral", (string?)wire["system"]![0]!["cache_control"]!["type"]);
    }

    [Fact]
    public async Task Anthropic_a_second_breakpoint_reads_the_shared_prefix_and_writes_only_the_new_part()
    {
        var system = LongSystem();
        var client = Client(Anthropic);
        List<ChatMessage> Request(string user) =>
        [
            new(ChatRole.System, [new TextContent(system).WithCacheControl(Ttl.Ttl5m)]),
            new(ChatRole.User, [new TextContent(user).WithCacheControl(Ttl.Ttl5m), new TextContent("Write the plan now.")]),
        ];
        var otherPrompt = PlanPrompt.Replace("Clinic", "Dental clinic", StringComparison.Ordinal);

        var first = LlmUsage.From(await client.GetResponseAsync(Request(PlanPrompt)));
        var other = LlmUsage.From(await client.GetResponseAsync(Request(otherPrompt)));
        var again = LlmUsage.From(await client.GetResponseAsync(Request(PlanPrompt)));

        int T(string text) => OfflineChatClient.CountTokens(text);
        var tail = T("Write the plan now.");
        Assert.Equal(Tokens(tail, 0, T(system) + T(PlanPrompt)), Tokens(first));
        Assert.Equal(Tokens(tail, T(system), T(otherPrompt)), Tokens(other));
        Assert.Equal(Tokens(tail, T(system) + T(PlanPrompt), 0), Tokens(again));
        Assert.All(_server.Requests, r => Assert.Equal("plan_agent", r.AgentType));
    }

    [Fact]
    public async Task Anthropic_short_prefixes_and_other_models_are_not_read_from_the_cache()
    {
        List<ChatMessage> Short() => [new(ChatRole.System, [new TextContent("You write plans.").WithCacheControl(Ttl.Ttl5m)]), new(ChatRole.User, PlanPrompt)];
        List<ChatMessage> Long() => [new(ChatRole.System, [new TextContent(LongSystem()).WithCacheControl(Ttl.Ttl5m)]), new(ChatRole.User, PlanPrompt)];

        var shortFirst = LlmUsage.From(await Client(Anthropic).GetResponseAsync(Short()));
        var shortAgain = LlmUsage.From(await Client(Anthropic).GetResponseAsync(Short()));
        var sonnet = LlmUsage.From(await Client(Anthropic).GetResponseAsync(Long()));
        var haiku = LlmUsage.From(await Client(Anthropic, "claude-haiku-4-5").GetResponseAsync(Long()));

        Assert.Equal(Tokens(shortFirst.InputTokens, 0, 0), Tokens(shortFirst));
        Assert.Equal(Tokens(shortFirst.InputTokens, 0, 0), Tokens(shortAgain));
        Assert.True(sonnet.CacheWriteTokens > 0);
        // The model is part of the prefix: another model's cache is its own.
        Assert.Equal(Tokens(sonnet.InputTokens, 0, sonnet.CacheWriteTokens), Tokens(haiku));
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Served_totals_equal_what_the_sdk_usage_reported(string provider)
    {
        var client = Client(provider);
        var system = LongSystem();
        var responses = new List<ChatResponse>();
        for (var i = 0; i < 3; i++)
        {
            responses.Add(await client.GetResponseAsync([new(ChatRole.System, [new TextContent(system).WithCacheControl(Ttl.Ttl5m)]), new(ChatRole.User, PlanPrompt)], i == 1 ? PlanSchema : null));
        }
        var qa = PlanPrompt.Replace("plan_agent", "qa_agent", StringComparison.Ordinal);
        responses.Add(await client.GetResponseAsync([new(ChatRole.User, qa)]));

        var served = _server.Served;
        Assert.Equal(responses.Count, served.Count);
        Assert.Equal(responses.Sum(r => r.Usage!.InputTokenCount), served.Sum(s => s.PromptTokens));
        Assert.Equal(responses.Sum(r => r.Usage!.OutputTokenCount), served.Sum(s => s.OutputTokens));
        Assert.Equal(responses.Sum(r => r.Usage!.CachedInputTokenCount ?? 0), served.Sum(s => s.CacheReadTokens));
        // The product's usage: uncached input (OpenAI prompt tokens less the cached ones), cache read, cache write.
        Assert.Equal(responses.Select(LlmUsage.From), served.Select(s => new LlmUsage(s.UncachedInputTokens, s.OutputTokens, s.CacheReadTokens, s.CacheWriteTokens)));
        Assert.Equal(["plan_agent", "plan_agent", "plan_agent", "qa_agent"], served.Select(s => s.AgentType));
        if (provider == Anthropic)
        {
            Assert.Equal(served.Select(s => s.InputTokens), served.Select(s => s.UncachedInputTokens));
            Assert.Equal([0, OfflineChatClient.CountTokens(system), OfflineChatClient.CountTokens(system), 0], served.Select(s => s.CacheReadTokens));
        }
        else
        {
            Assert.All(served, s => Assert.Equal((s.UncachedInputTokens + _server.CachedTokens, _server.CachedTokens, 0), (s.InputTokens, s.CacheReadTokens, s.CacheWriteTokens)));
        }
    }

    private IChatClient Client(string provider, string model = "claude-sonnet-4-5") => provider == Anthropic
        ? new AnthropicClient { ApiKey = "k", BaseUrl = _server.BaseUrl.ToString().TrimEnd('/'), MaxRetries = 0 }.AsIChatClient(model, 8000)
        : new OpenAIClient(new ApiKeyCredential("k"), new OpenAIClientOptions { Endpoint = new Uri(_server.BaseUrl, "v1/"), RetryPolicy = new ClientRetryPolicy(maxRetries: 0) })
            .GetChatClient("gpt-4.1-mini").AsIChatClient();

    private static List<ChatMessage> Plan() => [new(ChatRole.System, "You write delivery plans for software teams."), new(ChatRole.User, PlanPrompt)];

    /// <summary>A stable system prompt over Anthropic's 1024-token minimum for caching.</summary>
    private static string LongSystem() => "You write delivery plans for software teams.\n" + string.Concat(Enumerable.Range(1, 90).Select(i =>
        $"Rule {i}: every milestone has a goal, every task names the requirements it covers and its estimate in days.\n"));

    private static (long Input, long Read, long Write) Tokens(long input, long read, long write) => (input, read, write);

    private static (long Input, long Read, long Write) Tokens(LlmUsage usage) => (usage.InputTokens, usage.CacheReadTokens, usage.CacheWriteTokens);

    private static void Say(string text) => TestContext.Current.SendDiagnosticMessage(text);
}
