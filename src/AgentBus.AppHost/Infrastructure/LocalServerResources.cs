namespace AgentBus.AppHost.Infrastructure;

/// <summary>Postgres run from the machine's binaries; its connection string names the app database.</summary>
public sealed class LocalPostgresResource(string name, string command, string workingDirectory, ParameterResource password, string databaseName)
    : ExecutableResource(name, command, workingDirectory), IResourceWithConnectionString
{
    public ParameterResource Password { get; } = password;
    public string DatabaseName { get; } = databaseName;
    public EndpointReference PrimaryEndpoint => new(this, "tcp");

    public ReferenceExpression ConnectionStringExpression => ReferenceExpression.Create(
        $"Host={PrimaryEndpoint.Property(EndpointProperty.Host)};Port={PrimaryEndpoint.Property(EndpointProperty.Port)};Username=postgres;Password={Password};Database={DatabaseName}");
}

/// <summary>redis-server run from the machine's binary, password-protected, append-only file in the run folder.</summary>
public sealed class LocalRedisResource(string name, string command, string workingDirectory, ParameterResource password)
    : ExecutableResource(name, command, workingDirectory), IResourceWithConnectionString
{
    public ParameterResource Password { get; } = password;
    public EndpointReference PrimaryEndpoint => new(this, "tcp");

    public ReferenceExpression ConnectionStringExpression => ReferenceExpression.Create(
        $"{PrimaryEndpoint.Property(EndpointProperty.Host)}:{PrimaryEndpoint.Property(EndpointProperty.Port)},password={Password}");
}

/// <summary>Postgres as the AppHost hands it out: the administrator's connection string (the
/// migrations only), the app role's (the services) and the monitoring role's (the migrations
/// create both roles from them); <see cref="Server"/> is what postgres_exporter connects with.</summary>
public sealed record PostgresDatabase(
    IResourceBuilder<IResourceWithConnectionString> Admin,
    IResourceBuilder<ConnectionStringResource> App,
    IResourceBuilder<ConnectionStringResource> Monitor,
    PostgresServer Server);

/// <summary>Where the server listens, and the monitoring role's login.</summary>
public sealed record PostgresServer(EndpointReference Endpoint, string DatabaseName, string MonitorRole, ParameterResource MonitorPassword);
