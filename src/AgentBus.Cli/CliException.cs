namespace AgentBus.Cli;

/// <summary>A command that cannot go on: its message is the one sentence printed to stderr.</summary>
public sealed class CliException(int exitCode, string message) : Exception(message)
{
    public int ExitCode { get; } = exitCode;
}
