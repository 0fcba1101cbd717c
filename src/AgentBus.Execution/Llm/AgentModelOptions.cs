namespace AgentBus.Llm;

public sealed class AgentModelOptions
{
    public string? Provider { get; set; }
    public string? Model { get; set; }
}
