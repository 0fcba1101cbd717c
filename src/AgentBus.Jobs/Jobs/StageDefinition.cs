namespace AgentBus.Jobs;

/// <summary>One stage of the pipeline: the agent that runs it, the stages it waits for, the artifacts it reads.</summary>
public sealed record StageDefinition(string Name, string AgentType, string[] After, string[] Inputs, string ContentType);
