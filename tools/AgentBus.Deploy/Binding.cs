namespace AgentBus.Deploy;

/// <summary>A network binding as the cluster sees it: the Service port equals the container port.</summary>
public sealed record Binding(string Name, string Scheme, int Port, bool External);
