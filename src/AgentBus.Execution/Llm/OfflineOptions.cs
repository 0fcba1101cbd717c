namespace AgentBus.Llm;

/// <summary>The offline provider's simulation knobs: latency, and faults for drills and tests.</summary>
public sealed class OfflineOptions
{
    public TimeSpan Latency { get; set; } = TimeSpan.FromMilliseconds(20);

    /// <summary>Per agent type latency, e.g. to make one stage slow enough to interrupt.</summary>
    public Dictionary<string, TimeSpan> LatencyByAgent { get; set; } = [];

    /// <summary>Agent types whose every call fails, as a provider outage would.</summary>
    public string[] FailAgents { get; set; } = [];
}
