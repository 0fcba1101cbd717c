namespace AgentBus.Llm;

/// <summary>
/// Model settings, bound from "AgentBus:Llm". Provider and model apply to every agent unless
/// Agents:&lt;agent_type&gt; overrides them. Keys come from Anthropic:ApiKey / OpenAI:ApiKey
/// (Aspire parameters or secrets), never from a file in the repository.
/// </summary>
public sealed class LlmOptions
{
    public const string Section = "AgentBus:Llm";

    /// <summary>offline (default), anthropic or openai.</summary>
    public string Provider { get; set; } = LlmProviders.Offline;

    /// <summary>The model; each provider has a default when unset.</summary>
    public string? Model { get; set; }

    public int MaxOutputTokens { get; set; } = 8000;

    /// <summary>
    /// Global cap on model spend per UTC day, in US dollars, over every project: a call that could
    /// pass it is not made and its job stops with budget_exceeded (resumable). Unset: no cap.
    /// </summary>
    public decimal? DailySpendCapUsd { get; set; }

    public Dictionary<string, AgentModelOptions> Agents { get; set; } = [];

    public ProviderOptions Anthropic { get; set; } = new();

    /// <summary>OpenAI or any OpenAI-compatible server (Ollama, vLLM, LM Studio) through BaseUrl.</summary>
    public ProviderOptions OpenAI { get; set; } = new();

    public LlmResilienceOptions Resilience { get; set; } = new();

    /// <summary>Per-model price overrides (USD per million tokens), added to or replacing the built-in table.</summary>
    public Dictionary<string, ModelPrice> Prices { get; set; } = [];

    /// <summary>Context window overrides (tokens, prompt and answer together) per model, added to or replacing the built-in ones.</summary>
    public Dictionary<string, int> ContextWindows { get; set; } = [];

    /// <summary>The context window of a model neither built in nor in <see cref="ContextWindows"/>.</summary>
    public int DefaultContextWindow { get; set; } = 32_768;

    public OfflineOptions Offline { get; set; } = new();

    public (string Provider, string Model) RouteFor(string agentType)
    {
        // Empty strings count as unset: the AppHost passes every setting, set or not.
        static string? Set(string? value) => string.IsNullOrWhiteSpace(value) ? null : value;
        var agent = Agents.GetValueOrDefault(agentType);
        var provider = (Set(agent?.Provider) ?? Set(Provider) ?? LlmProviders.Offline).ToLowerInvariant();
        var model = Set(agent?.Model) ?? (Set(agent?.Provider) is null ? Set(Model) : null) ?? LlmProviders.DefaultModel(provider);
        return (provider, model);
    }
}
