using System.Diagnostics;

namespace AgentBus.Telemetry;

/// <summary>The ActivitySource of Agent Bus's own spans (enqueue, consume, stages).</summary>
public static class AgentBusTracing
{
    public const string SourceName = "AgentBus";
    public static readonly ActivitySource Source = new(SourceName);
}
