namespace AgentBus.IntegrationTests.Infrastructure;

/// <summary>One line a resource printed (stderr when <paramref name="IsError"/>).</summary>
public sealed record ResourceLogLine(string Resource, string Content, bool IsError);
