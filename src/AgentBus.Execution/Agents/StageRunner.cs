using System.Diagnostics;
using System.Text.Json;
using AgentBus.Jobs;
using AgentBus.Llm;
using AgentBus.Spend;
using AgentBus.Store;
using AgentBus.Telemetry;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Options;

namespace AgentBus.Agents;

/// <summary>
/// Runs one stage's agent: builds its prompt from the stage's inputs, checks the project's budget,
/// calls the agent's model, and records the call (tokens, cost, latency) the moment it returns:
/// spend is real even if the stage fails afterwards.
/// </summary>
public sealed class StageRunner(ChatClients clients, PriceTable prices, JobQueries queries, LlmSpend spend, AgentBusMetrics metrics, IOptions<LlmOptions> options) : IStageRunner
{
    public async Task<string> RunAsync(StageWork work, Guid taskId, CancellationToken ct)
    {
        var agentType = work.Stage.AgentType;
        if (!AgentPrompts.UsesModel(agentType))
        {
            return DeliveryPackager.Assemble(work);
        }

        var similar = work.Stage.Name == Pipeline.Prd ? await queries.SimilarPrdsAsync(work.Job.JobId, work.Project.Requirements, ct) : [];
        var messages = AgentPrompts.Build(work, similar);
        var route = clients.For(agentType);
        var price = prices.Find(route.Model);
        await CheckBudgetAsync(work, messages, price, ct);

        var start = Stopwatch.GetTimestamp();
        ChatResponse response;
        try
        {
            response = await route.Client.GetResponseAsync(messages,
                new ChatOptions { ModelId = route.Model, MaxOutputTokens = options.Value.MaxOutputTokens }, ct);
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
        var call = new LlmCallRecord(agentType, route.Provider, response.ModelId ?? route.Model, usage.InputTokens, usage.OutputTokens,
            usage.CacheReadTokens, usage.CacheWriteTokens, latency, price?.Cost(usage));
        Activity.Current?.SetTag("gen_ai.usage.input_tokens", usage.InputTokens).SetTag("gen_ai.usage.output_tokens", usage.OutputTokens)
            .SetTag("gen_ai.usage.cost", call.CostUsd is { } c ? (double)c : null);
        Count(call);
        await spend.RecordLlmCallAsync(work, taskId, call, CancellationToken.None);

        var content = response.Text;
        if (string.IsNullOrWhiteSpace(content))
        {
            throw new AgentOutputException($"{agentType} returned no content");
        }
        return work.Stage.ContentType == "application/json" ? JsonOnly(agentType, content) : content;
    }

    /// <summary>
    /// Stops before a call that could pass the project's budget: what is spent plus this call's
    /// most (its prompt's tokens and the full output allowance at the model's price).
    /// </summary>
    private async Task CheckBudgetAsync(StageWork work, IList<ChatMessage> messages, ModelPrice? price, CancellationToken ct)
    {
        if (work.Project.BudgetUsd is not { } budget)
        {
            return;
        }
        if (price is null)
        {
            throw new BudgetExceededException($"the project has a budget of ${budget:0.00##} and {work.Stage.AgentType}'s model has no price, so the call could pass it unseen");
        }
        var spent = await spend.ProjectSpendAsync(work.Project.ProjectId, ct);
        var inputTokens = messages.Sum(m => OfflineChatClient.CountTokens(m.Text));
        var ceiling = price.Cost(new LlmUsage(inputTokens, options.Value.MaxOutputTokens, 0, 0));
        if (spent + ceiling > budget)
        {
            throw new BudgetExceededException($"spent ${spent:0.00####} of ${budget:0.00##}; the {work.Stage.Name} call may cost up to ${ceiling:0.00####}");
        }
    }

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

    /// <summary>Models wrap JSON in prose or fences now and then: keep the object, refuse anything else.</summary>
    private static string JsonOnly(string agentType, string content)
    {
        var start = content.IndexOf('{');
        var end = content.LastIndexOf('}');
        if (start < 0 || end <= start)
        {
            throw new AgentOutputException($"{agentType} returned no JSON object");
        }
        var json = content[start..(end + 1)];
        try
        {
            using var _ = JsonDocument.Parse(json);
            return json;
        }
        catch (JsonException e)
        {
            throw new AgentOutputException($"{agentType} returned invalid JSON: {e.Message}");
        }
    }
}
