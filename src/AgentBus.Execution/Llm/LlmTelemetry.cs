namespace AgentBus.Llm;

/// <summary>The ActivitySource and Meter of the chat clients' gen_ai.* telemetry.</summary>
public static class LlmTelemetry
{
    public const string SourceName = "AgentBus.Llm";
}
