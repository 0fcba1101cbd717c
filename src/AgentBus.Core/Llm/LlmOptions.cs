namespace AgentBus.Llm;

/// <summary>Model settings, bound from "AgentBus:Llm".</summary>
public sealed class LlmOptions
{
    public const string Section = "AgentBus:Llm";

    /// <summary>offline (default), anthropic or openai.</summary>
    public string Provider { get; set; } = OfflineChatClient.ProviderName;

    public string? Model { get; set; }

    public int MaxOutputTokens { get; set; } = 8000;

    public OfflineOptions Offline { get; set; } = new();
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
