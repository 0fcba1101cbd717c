using System.Text.Json;
using System.Text.Json.Nodes;
using AgentBus.Events;
using AgentBus.Jobs;
using AgentBus.Requirements;
using Json.Schema;
using Microsoft.Extensions.AI;

namespace AgentBus.Agents;

/// <summary>
/// What a usable answer is, per agent: the JSON schema the model's API is told to answer in (so
/// no JSON stage depends on prompt text alone), and the checks an answer passes before it becomes
/// an artifact. A failed check names the problem exactly: it is what the repair turn tells the
/// model, and what the job's error says when the repair fails too.
/// </summary>
public static partial class AgentAnswers
{
    private static readonly JsonSerializerOptions Wire = new(JsonSerializerDefaults.Web) { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    /// <summary>The plan's schema: every property required, none extra (what strict structured output accepts).</summary>
    public static readonly JsonElement PlanSchema = AIJsonUtilities.CreateJsonSchema(typeof(DeliveryPlan), serializerOptions: Wire,
        inferenceOptions: new AIJsonSchemaCreateOptions
        {
            TransformOptions = new AIJsonSchemaTransformOptions { DisallowAdditionalProperties = true, RequireAllProperties = true },
        });

    private static readonly Lazy<JsonSchema> PlanValidator = new(() => JsonSchema.FromText(PlanSchema.GetRawText()));

    /// <summary>The response format for <paramref name="agentType"/>'s answer; null for a Markdown deliverable.</summary>
    public static ChatResponseFormat? FormatFor(string agentType) => agentType == "plan_agent" ? PlanFormat : null;

    private static readonly ChatResponseFormat PlanFormat = ChatResponseFormat.ForJsonSchema(PlanSchema, "delivery_plan", "The delivery plan as one JSON object.");

    /// <summary>
    /// Checks <paramref name="response"/> as the stage's artifact. A problem may carry a fallback:
    /// content that is still kept (with a note) if a repair turn does not fix it.
    /// </summary>
    public static AnswerCheck Check(StageWork work, ChatResponse response, int maxOutputTokens)
    {
        var agentType = work.Stage.AgentType;
        // Postgres text cannot hold U+0000: a model that emits it loses that character, not the stage.
        var text = response.Text.Replace("\0", "", StringComparison.Ordinal);
        if (response.FinishReason == ChatFinishReason.Length)
        {
            return AnswerCheck.Problem($"the answer was cut off at the output limit of {maxOutputTokens} tokens");
        }
        if (response.FinishReason == ChatFinishReason.ContentFilter)
        {
            return AnswerCheck.Problem("the answer was refused or filtered by the provider");
        }
        if (string.IsNullOrWhiteSpace(text))
        {
            return AnswerCheck.Problem("the answer was empty");
        }
        if (agentType == "plan_agent")
        {
            return CheckPlan(work, text);
        }
        if (agentType == "prd_agent")
        {
            var untraced = Traceability.Untraced(work.Project.Requirements, text);
            return untraced.Count == 0
                ? AnswerCheck.Usable(text)
                : AnswerCheck.Problem(
                    $"requirement sentence(s) {string.Join(", ", untraced.Select(s => $"{s.Id} (\"{Shorten(s.Text)}\")"))} are neither cited by an FR or NFR line nor listed under \"## Not requirements\" with a reason",
                    fallback: text.TrimEnd() + "\n\n" + Traceability.UntracedSection(untraced),
                    note: new StageNote(JobEventTypes.RequirementsUntraced, new { sentences = untraced.Select(s => new { id = s.Id, text = s.Text }) }));
        }
        return AnswerCheck.Usable(text);
    }

    private static AnswerCheck CheckPlan(StageWork work, string text)
    {
        JsonNode? node;
        // Models without enforced output wrap JSON in fences or prose: keep the object only.
        var (start, end) = (text.IndexOf('{', StringComparison.Ordinal), text.LastIndexOf('}'));
        if (start < 0)
        {
            return AnswerCheck.Problem("the answer contained no JSON object");
        }
        try
        {
            node = JsonNode.Parse(end > start ? text[start..(end + 1)] : text[start..]);
        }
        catch (JsonException e)
        {
            return AnswerCheck.Problem($"the answer was not valid JSON ({e.Message})");
        }
        var results = PlanValidator.Value.Evaluate(JsonSerializer.SerializeToElement(node), new EvaluationOptions { OutputFormat = OutputFormat.List });
        if (!results.IsValid)
        {
            var errors = (results.Details ?? []).Where(d => d.Errors is { Count: > 0 })
                .SelectMany(d => d.Errors!.Select(e => $"at {(d.InstanceLocation.ToString() is { Length: > 0 } at ? at : "/")}: {e.Value}"))
                .Distinct().Take(5).ToList();
            return AnswerCheck.Problem($"the JSON does not match the plan's schema: {(errors.Count > 0 ? string.Join("; ", errors) : "invalid")}");
        }
        var plan = node.Deserialize<DeliveryPlan>(Wire)!;
        var tasks = plan.Milestones.SelectMany(m => m.Tasks).ToList();
        var duplicate = tasks.GroupBy(t => t.Id).FirstOrDefault(g => g.Count() > 1)?.Key;
        var ids = tasks.Select(t => t.Id).ToHashSet();
        var unknownDependency = tasks.SelectMany(t => t.DependsOn.Where(d => !ids.Contains(d)).Select(d => $"{t.Id} depends on {d}")).FirstOrDefault();
        var known = work.Inputs.TryGetValue(Pipeline.Prd, out var prd)
            ? Traceability.ReadPrd(prd.Content).Requirements.Select(r => r.Id).ToHashSet()
            : null;
        var unknownRequirement = known is null ? null
            : tasks.SelectMany(t => t.Requirements.Where(r => !known.Contains(r)).Select(r => $"{t.Id} cites {r}")).FirstOrDefault();
        var problem = duplicate is not null ? $"task id {duplicate} is used more than once"
            : unknownDependency is not null ? $"{unknownDependency}, which is not a task of the plan"
            : unknownRequirement is not null ? $"{unknownRequirement}, which is not a requirement of the PRD"
            : null;
        // Stored as the canonical JSON of the schema's type: no prose, no fences, one shape.
        return problem is null ? AnswerCheck.Usable(JsonSerializer.Serialize(plan, PlanJson)) : AnswerCheck.Problem($"the plan is inconsistent: {problem}");
    }

    private static readonly JsonSerializerOptions PlanJson = new(Wire) { WriteIndented = true };

    /// <summary>The message of a repair turn: the exact problem, and what to send instead.</summary>
    public static string RepairRequest(string agentType, string problem) =>
        $"Your answer cannot be used: {problem}. Send the whole {(agentType == "plan_agent" ? "JSON object" : "deliverable")} again with this fixed, and nothing else.";

    private static string Shorten(string text) => text.Length <= 60 ? text : text[..60] + "…";
}

/// <summary>An answer's check: usable content (with notes for the job's events), or the problem.</summary>
public sealed record AnswerCheck(string? Content, string? ProblemText, string? Fallback, StageNote? FallbackNote)
{
    public static AnswerCheck Usable(string content) => new(content, null, null, null);
    public static AnswerCheck Problem(string problem, string? fallback = null, StageNote? note = null) => new(null, problem, fallback, note);
}
