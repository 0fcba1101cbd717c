namespace AgentBus.AppHost.Infrastructure;

public enum InfrastructureMode
{
    /// <summary>Containers when a container runtime answers (and always when publishing), else local binaries.</summary>
    Auto,
    /// <summary>Aspire's Postgres and Redis containers.</summary>
    Containers,
    /// <summary>Postgres and redis-server from this machine's binaries, as executable resources.</summary>
    Local,
}
