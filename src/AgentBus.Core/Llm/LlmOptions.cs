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

    public Dictionary<string, AgentModelOptions> Agents { get; set; } = [];

    public ProviderOptions Anthropic { get; set; } = new();

    /// <summary>OpenAI or any OpenAI-compatible server (Ollama, vLLM, LM Studio) through BaseUrl.</summary>
    public ProviderOptions OpenAI { get; set; } = new();

    public LlmResilienceOptions Resilience { get; set; } = new();

    /// <summary>Per-model price overrides (USD per million tokens), added to or replacing the built-in table.</summary>
    public Dictionary<string, ModelPrice> Prices { get; set; } = [];

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

public sealed class AgentModelOptions
{
    public string? Provider { get; set; }
    public string? Model { get; set; }
}

public sealed class ProviderOptions
{
    public string? ApiKey { get; set; }

    /// <summary>The API's base URL; for OpenAI-compatible servers include the version path, e.g. http://localhost:11434/v1.</summary>
    public string? BaseUrl { get; set; }

    public string? Key => string.IsNullOrWhiteSpace(ApiKey) ? null : ApiKey;
    public Uri? Url => string.IsNullOrWhiteSpace(BaseUrl) ? null : new Uri(BaseUrl.TrimEnd('/') + "/");
}

/// <summary>Per-call resilience: attempt timeout, retries with backoff that honour Retry-After, a breaker per provider.</summary>
public sealed class LlmResilienceOptions
{
    public TimeSpan AttemptTimeout { get; set; } = TimeSpan.FromMinutes(2);
    public TimeSpan TotalTimeout { get; set; } = TimeSpan.FromMinutes(6);
    public int MaxRetries { get; set; } = 4;
    public TimeSpan RetryBaseDelay { get; set; } = TimeSpan.FromSeconds(2);
    public TimeSpan BreakDuration { get; set; } = TimeSpan.FromSeconds(30);
}

/// <summary>The offline provider's simulation knobs: latency, and faults for drills and tests.</summary>
public sealed class OfflineOptions
{
    public TimeSpan Latency { get; set; } = TimeSpan.FromMilliseconds(20);

    /// <summary>Per agent type latency, e.g. to make one stage slow enough to interrupt.</summary>
    public Dictionary<string, TimeSpan> LatencyByAgent { get; set; } = [];

    /// <summary>Agent types whose every call fails, as a provider outage would.</summary>
    public string[] FailAgents { get; set; } = [];
}

public static class LlmProviders
{
    public const string Offline = "offline";
    public const string Anthropic = "anthropic";
    public const string OpenAI = "openai";

    public static readonly string[] All = [Offline, Anthropic, OpenAI];

    public static string DefaultModel(string provider) => provider switch
    {
        Anthropic => "claude-sonnet-4-5",
        OpenAI => "gpt-4.1-mini",
        _ => OfflineChatClient.ModelName,
    };
}
