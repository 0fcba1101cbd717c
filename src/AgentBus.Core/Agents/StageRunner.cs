using System.Diagnostics;
using System.Text.Json;
using AgentBus.Jobs;
using AgentBus.Llm;
using AgentBus.Telemetry;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Options;

namespace AgentBus.Agents;

/// <summary>Runs one stage's agent: builds its prompt from the stage's inputs, calls the model, counts the call.</summary>
public sealed class StageRunner(IChatClient chat, JobStore store, AgentBusMetrics metrics, IOptions<LlmOptions> options)
{
    public async Task<(string Content, IReadOnlyList<LlmCallRecord> Calls)> RunAsync(StageWork work, CancellationToken ct)
    {
        var agentType = work.Stage.AgentType;
        if (!AgentPrompts.UsesModel(agentType))
        {
            return (DeliveryPackager.Assemble(work), []);
        }

        var similar = work.Stage.Name == Pipeline.Prd ? await store.SimilarPrdsAsync(work.Job.JobId, work.Project.Requirements, ct) : [];
        var chatOptions = new ChatOptions { ModelId = options.Value.Model, MaxOutputTokens = options.Value.MaxOutputTokens };
        var start = Stopwatch.GetTimestamp();
        var response = await chat.GetResponseAsync(AgentPrompts.Build(work, similar), chatOptions, ct);
        var latency = (int)Stopwatch.GetElapsedTime(start).TotalMilliseconds;

        var metadata = chat.GetService<ChatClientMetadata>();
        var provider = metadata?.ProviderName ?? options.Value.Provider;
        var usage = response.Usage ?? new UsageDetails();
        var call = new LlmCallRecord(agentType, provider, response.ModelId ?? chatOptions.ModelId ?? metadata?.DefaultModelId ?? "unknown",
            usage.InputTokenCount ?? 0, usage.OutputTokenCount ?? 0, usage.CachedInputTokenCount ?? 0, 0, latency);
        Count(call);

        var content = response.Text;
        if (string.IsNullOrWhiteSpace(content))
        {
            throw new AgentOutputException($"{agentType} returned no content");
        }
        if (work.Stage.ContentType == "application/json")
        {
            content = JsonOnly(agentType, content);
        }
        return (content, [call]);
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

/// <summary>An agent's answer that cannot be used; the stage is retried.</summary>
public sealed class AgentOutputException(string message) : Exception(message);
