using System.Diagnostics;
using AgentBus.Data;
using AgentBus.Events;
using AgentBus.Jobs;
using AgentBus.Llm;
using AgentBus.Requirements;
using AgentBus.Spend;
using AgentBus.Store;
using AgentBus.Telemetry;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Options;
using Polly;
using Polly.Retry;

namespace AgentBus.Agents;

/// <summary>
/// Runs one stage's agent: builds its prompt from the stage's inputs (cut to fit the model's
/// context window when it must be), checks before every call that its attempt is still the one
/// running, the project's budget and the global daily spend cap, calls the
/// model with the answer's schema where the artifact is JSON, checks the answer and, when it is
/// not usable, asks once more in the same conversation with the problem stated (a repair turn).
/// Every call is recorded (tokens, cost, latency) the moment it returns: spend is real even if
/// the stage fails afterwards.
/// </summary>
public sealed class StageRunner(ChatClients clients, PriceTable prices, ContextWindows windows, JobQueries queries, LlmSpend spend,
    AgentBusMetrics metrics, IOptions<LlmOptions> options) : IStageRunner
{
    // An answered call is paid for: its record waits out a Postgres outage (up to about two
    // minutes) instead of being lost while the stage is run and paid for again.
    private static readonly ResiliencePipeline RecordRetry = new ResiliencePipelineBuilder()
        .AddRetry(new RetryStrategyOptions
        {
            ShouldHandle = new PredicateBuilder().Handle<Exception>(Outage.Is),
            MaxRetryAttempts = 30, Delay = TimeSpan.FromMilliseconds(250), BackoffType = DelayBackoffType.Exponential,
            MaxDelay = TimeSpan.FromSeconds(5), UseJitter = true,
        })
        .Build();

    /// <summary>Token counts are the o200k tokenizer's; other vendors' tokenizers count up to about this much more.</summary>
    private const double CountMargin = 1.15;

    public async Task<StageOutput> RunAsync(StageWork work, Guid taskId, CancellationToken ct)
    {
        var agentType = work.Stage.AgentType;
        if (!AgentPrompts.UsesModel(agentType))
        {
            return new StageOutput(DeliveryPackager.Assemble(work), []);
        }

        var similar = work.Stage.Name == Pipeline.Prd ? await queries.SimilarPrdsAsync(work.Job.JobId, work.Project.Requirements, ct) : [];
        var route = clients.For(agentType);
        var call = new ModelCall(work, taskId, route, prices.Find(route.Model), windows.For(route.Model), options.Value.MaxOutputTokens);
        var notes = new List<StageNote>();

        var full = AgentPrompts.Build(work, similar);
        var (prompt, cuts) = full.Fit(call.InputBudget, Count, route.Model);
        if (cuts.Count > 0)
        {
            notes.Add(new StageNote(JobEventTypes.ContextReduced, new
            {
                model = route.Model, context_window = call.Window, prompt_tokens = Tokens(full.ToMessages()), sent_tokens = Tokens(prompt.ToMessages()), cuts,
            }));
        }
        var messages = prompt.ToMessages();
        var first = await CallAsync(call, 1, messages, ct);
        var check = AgentAnswers.Check(work, first, call.MaxOutput);
        if (check.Content is { } content)
        {
            return Finish(work, content, notes);
        }

        // Repair: the same conversation, the exact problem, one more call (recorded like any).
        messages.Add(new ChatMessage(ChatRole.Assistant, first.Text));
        messages.Add(new ChatMessage(ChatRole.User, AgentAnswers.RepairRequest(agentType, check.ProblemText!)));
        if (Tokens(messages) > call.InputBudget)
        {
            return Unusable(work, check, notes, $"{check.ProblemText} (no room in the context window for a repair turn)");
        }
        var second = await CallAsync(call, 2, messages, ct);
        var again = AgentAnswers.Check(work, second, call.MaxOutput);
        if (again.Content is { } repaired)
        {
            notes.Add(new StageNote(JobEventTypes.AnswerRepaired, new { problem = check.ProblemText }));
            return Finish(work, repaired, notes);
        }
        return Unusable(work, again, notes, $"{again.ProblemText} (and in the first answer: {check.ProblemText})");
    }

    /// <summary>An answer still unusable: kept with a note where the check allows it, else the attempt fails saying why.</summary>
    private static StageOutput Unusable(StageWork work, AnswerCheck check, List<StageNote> notes, string problem)
    {
        if (check.Fallback is { } fallback)
        {
            notes.Add(check.FallbackNote!);
            return Finish(work, fallback, notes);
        }
        throw new AgentOutputException($"{work.Stage.AgentType}'s answer could not be used after a repair turn: {problem}");
    }

    /// <summary>The review's coverage is computed from what the deliverables cite, whatever the model claimed.</summary>
    private static StageOutput Finish(StageWork work, string content, List<StageNote> notes)
    {
        if (work.Stage.AgentType == "product_manager" && work.Inputs.TryGetValue(Pipeline.Prd, out var prd))
        {
            var coverage = Traceability.Coverage(prd.Content, work.Inputs.ToDictionary(i => i.Key, i => i.Value.Content));
            content = Traceability.WithComputedCoverage(content, coverage);
            if (coverage.Uncovered.Count > 0)
            {
                notes.Add(new StageNote(JobEventTypes.RequirementsUncovered, new
                {
                    requirements = coverage.Gaps.Select(g => new { id = g.Id, missing_from = g.Missing }),
                }));
            }
        }
        return new StageOutput(content, notes);
    }

    /// <summary>What every call of one stage shares: where it goes, what it may cost, how much fits.</summary>
    private sealed record ModelCall(StageWork Work, Guid TaskId, LlmRoute Route, ModelPrice? Price, int Window, int ConfiguredMaxOutput)
    {
        /// <summary>The answer's allowance: the configured one, at most half the window.</summary>
        public int MaxOutput => Math.Min(ConfiguredMaxOutput, Window / 2);
        public int InputBudget => Window - MaxOutput;
    }

    private static int Count(string text) => (int)Math.Ceiling(OfflineChatClient.CountTokens(text) * CountMargin);
    private static int Tokens(IEnumerable<ChatMessage> messages) => messages.Sum(m => Count(m.Text));

    private async Task<ChatResponse> CallAsync(ModelCall call, int seq, IList<ChatMessage> messages, CancellationToken ct)
    {
        var (work, route) = (call.Work, call.Route);
        await CheckAllowanceAsync(work, messages, call, ct);
        var chatOptions = new ChatOptions { ModelId = route.Model, MaxOutputTokens = call.MaxOutput };
        if (AgentAnswers.FormatFor(work.Stage.AgentType) is { } format)
        {
            // "strict": OpenAI-compatible servers constrain decoding to the schema.
            (chatOptions.ResponseFormat, chatOptions.AdditionalProperties) = (format, new() { ["strict"] = true });
        }

        var start = Stopwatch.GetTimestamp();
        ChatResponse response;
        try
        {
            response = await route.Client.GetResponseAsync(messages, chatOptions, ct);
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or ArgumentException or InvalidOperationException or KeyNotFoundException
                                  && LlmProviderException.Find(e) is null && !ct.IsCancellationRequested)
        {
            // A 200 the SDK cannot read (non-JSON, truncated, wrong shape) surfaces as a parser
            // exception: name it as the provider's fault instead of a bare "stage_error".
            throw new LlmProviderException(route.Provider, "bad_response", null, $"{route.Provider}: unreadable answer ({e.GetType().Name})", e);
        }
        var latency = (int)Stopwatch.GetElapsedTime(start).TotalMilliseconds;

        var usage = LlmUsage.From(response);
        var record = new LlmCallRecord(work.Stage.AgentType, route.Provider, response.ModelId ?? route.Model, usage.InputTokens, usage.OutputTokens,
            usage.CacheReadTokens, usage.CacheWriteTokens, latency, call.Price?.Cost(usage));
        Activity.Current?.SetTag("gen_ai.usage.input_tokens", usage.InputTokens).SetTag("gen_ai.usage.output_tokens", usage.OutputTokens)
            .SetTag("gen_ai.usage.cost", record.CostUsd is { } c ? (double)c : null);
        Count(record);
        await RecordRetry.ExecuteAsync(async ct => await spend.RecordLlmCallAsync(work, call.TaskId, seq, record, ct), CancellationToken.None);
        return response;
    }

    /// <summary>
    /// Stops before a call when the stage's attempt was superseded (another consumer runs it now),
    /// or when the call could pass the project's budget or the global daily spend cap: what is
    /// spent plus this call's most (its prompt's tokens and the full output allowance at the
    /// model's price).
    /// </summary>
    private async Task CheckAllowanceAsync(StageWork work, IList<ChatMessage> messages, ModelCall call, CancellationToken ct)
    {
        var (budget, cap) = (work.Project.BudgetUsd, options.Value.DailySpendCapUsd);
        var allowance = await spend.AllowanceAsync(work, projectSpend: budget is not null, todaySpend: cap is not null, ct);
        if (allowance.TodaySpendUsd is { } today)
        {
            metrics.LlmSpendTodayUsd = (double)today;
        }
        if (!allowance.AttemptCurrent)
        {
            throw new AttemptSupersededException($"attempt {work.Attempt} of {work.Stage.Name} is no longer the one running");
        }
        if (budget is null && cap is null)
        {
            return;
        }
        if (call.Price is not { } price)
        {
            Refused(budget is null ? DailySpendCap : BudgetLimit);
            throw new BudgetExceededException(budget is { } b
                ? $"the project has a budget of ${b:0.00##} and {work.Stage.AgentType}'s model has no price, so the call could pass it unseen"
                : $"a daily spend cap of ${cap:0.00##} applies and {work.Stage.AgentType}'s model has no price, so the call could pass it unseen");
        }
        var ceiling = price.Cost(new LlmUsage(messages.Sum(m => OfflineChatClient.CountTokens(m.Text)), call.MaxOutput, 0, 0));
        if (budget is { } limit && allowance.ProjectSpendUsd is { } spent && spent + ceiling > limit)
        {
            Refused(BudgetLimit);
            throw new BudgetExceededException($"spent ${spent:0.00####} of ${limit:0.00##}; the {work.Stage.Name} call may cost up to ${ceiling:0.00####}");
        }
        if (cap is { } daily && allowance.TodaySpendUsd is { } spentToday && spentToday + ceiling > daily)
        {
            Refused(DailySpendCap);
            throw new BudgetExceededException(
                $"the daily spend cap of ${daily:0.00##} is reached: ${spentToday:0.00####} spent today (UTC); the {work.Stage.Name} call may cost up to ${ceiling:0.00####}");
        }
    }

    /// <summary>The reasons of agent_bus_agent_llm_calls_refused_total.</summary>
    public const string BudgetLimit = "budget", DailySpendCap = "daily_spend_cap";

    private void Refused(string reason) => metrics.LlmCallsRefused.Add(1, new KeyValuePair<string, object?>("reason", reason));

    private void Count(LlmCallRecord call)
    {
        KeyValuePair<string, object?> agent = new("agent_type", call.AgentType), provider = new("provider", call.Provider);
        metrics.LlmCalls.Add(1, agent, provider);
        foreach (var (type, count) in new[] { ("input", call.InputTokens), ("output", call.OutputTokens), ("cache_read", call.CacheReadTokens), ("cache_write", call.CacheWriteTokens) })
        {
            if (count > 0 || type is "input" or "output")
            {
                metrics.LlmTokens.Add(count, agent, provider, new("type", type));
            }
        }
        if (call.CostUsd is { } cost)
        {
            metrics.LlmCost.Add((double)cost, agent, provider, new("model", call.Model));
        }
        else
        {
            metrics.LlmCostUnknown.Add(1, agent, provider, new("model", call.Model));
        }
    }
}
