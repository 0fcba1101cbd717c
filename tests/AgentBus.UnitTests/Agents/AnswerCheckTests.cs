using System.Text.Json;
using System.Text.Json.Nodes;
using AgentBus.Agents;
using AgentBus.Events;
using AgentBus.Jobs;
using AgentBus.Llm;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Options;

namespace AgentBus.UnitTests.Agents;

public sealed class AnswerCheckTests
{
    private const string Prd = "# P\n\n## Requirements\n\n- FR-1: Patients book online. (S1)\n- FR-2: Doctors see schedules. (S2)\n";

    private static StageWork Work(string stage, string requirements = "Patients must book online. Doctors should see schedules.") => new(
        new JobRow { JobId = Guid.NewGuid() }, new ProjectRow { Name = "Clinic", Requirements = requirements }, AgentBus.Jobs.Pipeline.ByName[stage], 1, null,
        new Dictionary<string, ArtifactRow> { [AgentBus.Jobs.Pipeline.Prd] = new() { Type = AgentBus.Jobs.Pipeline.Prd, Version = 1, Content = Prd } }, null);

    private static ChatResponse Answer(string text, ChatFinishReason? finish = null) =>
        new(new ChatMessage(ChatRole.Assistant, text)) { FinishReason = finish ?? ChatFinishReason.Stop };

    private static JsonObject Plan() => new()
    {
        ["milestones"] = new JsonArray(new JsonObject
        {
            ["id"] = "M1", ["name"] = "Booking", ["goal"] = "Book",
            ["tasks"] = new JsonArray(
                new JsonObject { ["id"] = "T1", ["title"] = "Booking", ["requirements"] = new JsonArray("FR-1"), ["estimate_days"] = 2, ["depends_on"] = new JsonArray() },
                new JsonObject { ["id"] = "T2", ["title"] = "Schedule", ["requirements"] = new JsonArray("FR-2"), ["estimate_days"] = 3, ["depends_on"] = new JsonArray("T1") }),
        }),
        ["assumptions"] = new JsonArray("One team"),
    };

    [Fact]
    public void The_plan_schema_is_strict_every_object_closed_and_every_property_required()
    {
        var objects = new List<JsonElement>();
        void Walk(JsonElement e)
        {
            if (e.ValueKind == JsonValueKind.Object)
            {
                if (e.TryGetProperty("properties", out _))
                {
                    objects.Add(e);
                }
                foreach (var p in e.EnumerateObject())
                {
                    Walk(p.Value);
                }
            }
            else if (e.ValueKind == JsonValueKind.Array)
            {
                foreach (var item in e.EnumerateArray())
                {
                    Walk(item);
                }
            }
        }
        Walk(AgentAnswers.PlanSchema);
        Assert.Equal(3, objects.Count); // plan, milestone, task
        foreach (var o in objects)
        {
            Assert.False(o.GetProperty("additionalProperties").GetBoolean());
            Assert.Equal(o.GetProperty("properties").EnumerateObject().Select(p => p.Name).Order(), o.GetProperty("required").EnumerateArray().Select(r => r.GetString()!).Order());
        }
        Assert.Contains("estimate_days", AgentAnswers.PlanSchema.GetRawText());
        Assert.NotNull(AgentAnswers.FormatFor("plan_agent"));
        Assert.Null(AgentAnswers.FormatFor("architect_agent"));
    }

    [Fact]
    public void A_valid_plan_is_kept_as_canonical_json_even_inside_prose_and_fences()
    {
        var check = AgentAnswers.Check(Work("plan"), Answer($"Sure! Here it is:\n```json\n{Plan().ToJsonString()}\n```\nAnything else?"), 8000);
        Assert.Null(check.ProblemText);
        var stored = JsonNode.Parse(check.Content!)!;
        Assert.Equal("FR-2", (string?)stored["milestones"]![0]!["tasks"]![1]!["requirements"]![0]);
        Assert.StartsWith("{", check.Content);
    }

    [Theory]
    [InlineData("I propose three milestones: first the booking, then the schedule.", "no JSON object")]
    [InlineData("{\"milestones\": [", "not valid JSON")]
    [InlineData("{\"milestones\": [}", "not valid JSON")]
    public void Broken_answers_name_their_problem(string answer, string problem) =>
        Assert.Contains(problem, AgentAnswers.Check(Work("plan"), Answer(answer), 8000).ProblemText);

    [Fact]
    public void A_schema_violation_names_where_and_what()
    {
        var plan = Plan();
        plan["milestones"]![0]!["tasks"]![1]!.AsObject().Remove("estimate_days");
        plan["milestones"]![0]!["tasks"]![0]!["estimate_days"] = "two";
        var problem = AgentAnswers.Check(Work("plan"), Answer(plan.ToJsonString()), 8000).ProblemText!;
        Assert.Contains("schema", problem);
        Assert.Contains("/milestones/0/tasks/1", problem);
        Assert.Contains("/milestones/0/tasks/0/estimate_days", problem);
    }

    [Theory]
    [InlineData("depends_on", "T3", "T2 depends on T3, which is not a task of the plan")]
    [InlineData("requirements", "FR-9", "T2 cites FR-9, which is not a requirement of the PRD")]
    [InlineData("id", "T1", "task id T1 is used more than once")]
    public void An_inconsistent_plan_is_a_problem(string property, string value, string problem)
    {
        var plan = Plan();
        plan["milestones"]![0]!["tasks"]![1]![property] = property == "id" ? value : new JsonArray(value);
        Assert.Contains(problem, AgentAnswers.Check(Work("plan"), Answer(plan.ToJsonString()), 8000).ProblemText);
    }

    [Fact]
    public void Truncated_empty_and_filtered_answers_are_problems_for_every_stage()
    {
        Assert.Contains("cut off at the output limit of 500 tokens", AgentAnswers.Check(Work("qa"), Answer("# QA\n\n- TC-1", ChatFinishReason.Length), 500).ProblemText);
        Assert.Contains("empty", AgentAnswers.Check(Work("qa"), Answer("  \n"), 500).ProblemText);
        Assert.Contains("refused", AgentAnswers.Check(Work("qa"), Answer("no", ChatFinishReason.ContentFilter), 500).ProblemText);
        Assert.Equal("# QA\n\nFR-1", AgentAnswers.Check(Work("qa"), Answer("# QA\n\nFR-1"), 500).Content);
    }

    [Fact]
    public void A_prd_that_drops_a_sentence_is_a_problem_whose_fallback_lists_the_sentence_for_the_reviewer()
    {
        var work = Work("prd", "Patients must be able to book appointments online. Doctors should see their daily schedule. SMS reminders 24h before.");
        var check = AgentAnswers.Check(work, Answer(Prd), 8000);
        Assert.Contains("S3", check.ProblemText);
        Assert.Contains("SMS reminders", check.ProblemText);
        Assert.StartsWith(Prd.TrimEnd(), check.Fallback);
        Assert.Contains("SMS reminders 24h before", check.Fallback![Prd.Length..]);
        Assert.Equal(JobEventTypes.RequirementsUntraced, check.FallbackNote!.Type);

        var traced = Prd + "- FR-3: Patients get an SMS reminder 24 hours before. (S3)\n";
        Assert.Equal(traced, AgentAnswers.Check(work, Answer(traced), 8000).Content);
    }
}

public sealed class PromptFitTests
{
    private static int Words(string text) => text.Split((char[])[' ', '\n'], StringSplitOptions.RemoveEmptyEntries).Length;

    private static AgentPrompt Prompt() => new(
        "system words here", "Clinic", "[S1] Patients must book online.",
        new PromptArtifact("prd", 1, string.Join('\n', Enumerable.Range(1, 600).Select(i => $"prd line {i}"))),
        [
            new PromptArtifact("architecture", 1, string.Join('\n', Enumerable.Range(1, 2000).Select(i => $"architecture line {i}"))),
            new PromptArtifact("qa", 1, string.Join('\n', Enumerable.Range(1, 1000).Select(i => $"qa line {i}"))),
        ],
        ["similar one", "similar two"], null, null, "You are the tech_writer.\nWrite it now.");

    [Fact]
    public void A_prompt_that_fits_is_sent_whole()
    {
        var (prompt, cuts) = Prompt().Fit(100_000, Words, "m");
        Assert.Empty(cuts);
        Assert.Equal(Prompt().StagePart, prompt.StagePart);
    }

    [Fact]
    public void Similar_prds_go_first_then_the_longest_input_is_cut_with_a_marker_and_the_requirements_and_instructions_stay()
    {
        var budget = 7000;
        var (prompt, cuts) = Prompt().Fit(budget, Words, "tiny-model");
        Assert.Equal("2 similar earlier PRD(s) left out", cuts[0]);
        Assert.StartsWith("architecture v1 cut from", cuts[1]);
        Assert.True(Words(prompt.System) + Words(prompt.SharedPrefix) + Words(prompt.StagePart) <= budget);
        Assert.Contains("was cut so the prompt fits tiny-model's context window", prompt.Artifacts[0].Content);
        Assert.StartsWith("architecture line 1\narchitecture line 2\n", prompt.Artifacts[0].Content);
        Assert.True(cuts.Count == 2, string.Join(" / ", cuts));
        Assert.Equal(Prompt().Artifacts[1], prompt.Artifacts[1]);
        Assert.Equal(Prompt().Prd, prompt.Prd);
        Assert.Contains("[S1] Patients must book online.", prompt.SharedPrefix);
        Assert.EndsWith("You are the tech_writer.\nWrite it now.", prompt.StagePart);
    }

    [Fact]
    public void The_prd_is_cut_last_and_a_prompt_that_cannot_fit_fails_before_any_call()
    {
        var (prompt, cuts) = Prompt().Fit(1500, Words, "m");
        Assert.Contains(cuts, c => c.StartsWith("prd v1 cut", StringComparison.Ordinal));
        Assert.StartsWith("prd v1 cut", cuts[^1]);
        Assert.Contains("was cut", prompt.Prd!.Content);

        var e = Assert.Throws<ContextWindowExceededException>(() => Prompt().Fit(300, Words, "small-model"));
        Assert.Contains("small-model's context window leaves 300", e.Message);
    }

    [Fact]
    public void The_shared_prefix_carries_the_cache_breakpoint_and_is_the_same_for_every_stage_of_a_job()
    {
        var messages = Prompt().ToMessages();
        Assert.Equal(ChatRole.System, messages[0].Role);
        var blocks = messages[1].Contents.OfType<TextContent>().ToList();
        Assert.Equal(2, blocks.Count);
        Assert.NotNull(blocks[0].AdditionalProperties);
        Assert.Null(blocks[1].AdditionalProperties);
        Assert.Equal(Prompt().SharedPrefix, (Prompt() with { Artifacts = [], Task = "You are the qa_agent." }).SharedPrefix);
    }

    [Fact]
    public void Context_windows_are_known_for_priced_models_configurable_and_defaulted()
    {
        var windows = new ContextWindows(Options.Create(new LlmOptions { ContextWindows = new() { ["llama3.1:8b"] = 8192, ["gpt-4o"] = 64_000 }, DefaultContextWindow = 16_384 }));
        Assert.Equal(200_000, windows.For("claude-sonnet-4-5-20250929"));
        Assert.Equal(1_047_576, windows.For("gpt-4.1-mini"));
        Assert.Equal(64_000, windows.For("gpt-4o-2024-08-06"));
        Assert.Equal(8192, windows.For("llama3.1:8b"));
        Assert.Equal(16_384, windows.For("mistral-large"));
    }
}
