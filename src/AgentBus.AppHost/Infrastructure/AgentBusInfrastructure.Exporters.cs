namespace AgentBus.AppHost.Infrastructure;

/// <summary>
/// postgres_exporter and redis_exporter: Postgres and Redis seen from their side (docs/observability.md,
/// "Exporters"). Local mode runs Debian's binaries, container mode the projects' own images. Both
/// are configured by environment only, so no password reaches a command line that ps shows.
/// </summary>
public sealed partial class AgentBusInfrastructure
{
    // The images of the versions Debian 12 packages (0.11.1, 1.45.0): one behaviour in both modes.
    public const string PostgresExporterImage = "quay.io/prometheuscommunity/postgres-exporter";
    public const string PostgresExporterTag = "v0.11.1";
    public const string RedisExporterImage = "docker.io/oliver006/redis_exporter";
    public const string RedisExporterTag = "v1.45.0";
    public const int PostgresExporterPort = 9187;
    public const int RedisExporterPort = 9121;

    /// <summary>The extra queries (pg_stat_statements, dead tuples, WAL), relative to the repository root.</summary>
    public const string PostgresExporterQueries = "k8s/monitoring/postgres-exporter-queries.yaml";
    /// <summary>Where the container reads them (the Kubernetes ConfigMap is mounted there too).</summary>
    public const string PostgresExporterQueriesMount = "/etc/postgres-exporter/queries.yaml";

    /// <summary>AgentBus.Jobs' TaskQueue streams (StreamKey, DeadLetterKey) as SCAN patterns: a stream
    /// not created yet is simply not exported (a fixed key list would log an error at every scrape),
    /// and the delayed sets (sorted sets) do not match. The live Prometheus test fails when these
    /// drift from the services' keys.</summary>
    public const string QueueStreamPatterns = "agentbus:queue:[cg]pu,agentbus:queue:[cg]pu:dead";

    /// <summary>postgres_exporter as the monitoring role: it needs the role, so it waits for the migrations.</summary>
    public IResourceBuilder<IResourceWithWaitSupport> AddPostgresExporter(string name, PostgresDatabase postgres)
    {
        var server = postgres.Server;
        // The URL form: the exporter labels series with the server it parsed from it. The password
        // has no special characters (its parameter says so), so it needs no escaping.
        var dataSource = ReferenceExpression.Create(
            $"postgresql://{server.MonitorRole}:{server.MonitorPassword}@{server.Endpoint.Property(EndpointProperty.Host)}:{server.Endpoint.Property(EndpointProperty.Port)}/{server.DatabaseName}?sslmode=disable");
        var repositoryRoot = Path.GetFullPath(Path.Combine(_builder.AppHostDirectory, "..", ".."));

        var env = new Dictionary<string, object> { ["DATA_SOURCE_NAME"] = dataSource };
        if (Mode == InfrastructureMode.Containers)
        {
            env["PG_EXPORTER_EXTEND_QUERY_PATH"] = PostgresExporterQueriesMount;
            var container = _builder.AddContainer(name, PostgresExporterImage, PostgresExporterTag)
                .WithHttpEndpoint(targetPort: PostgresExporterPort, name: "http");
            if (_builder.ExecutionContext.IsRunMode)
            {
                // Kubernetes mounts the same file from a ConfigMap (tools/AgentBus.Deploy).
                container.WithBindMount(Path.Combine(repositoryRoot, PostgresExporterQueries), PostgresExporterQueriesMount, isReadOnly: true);
            }
            return Exporter(container, env);
        }
        env["PG_EXPORTER_EXTEND_QUERY_PATH"] = Path.Combine(repositoryRoot, PostgresExporterQueries);
        return Exporter(LocalExporter(name, _binaries!.PostgresExporter, "PG_EXPORTER_WEB_LISTEN_ADDRESS"), env);
    }

    /// <summary>redis_exporter with the queue streams (length, groups, pending per consumer group) and delayed sets.</summary>
    public IResourceBuilder<IResourceWithWaitSupport> AddRedisExporter(string name, IResourceBuilder<IResourceWithConnectionString> redis)
    {
        var (endpoint, password) = redis.Resource switch
        {
            LocalRedisResource local => (local.PrimaryEndpoint, local.Password),
            RedisResource container => (container.PrimaryEndpoint, container.PasswordParameter
                ?? throw new InvalidOperationException($"{redis.Resource.Name} has no password: redis_exporter would log in without one.")),
            _ => throw new InvalidOperationException($"{redis.Resource.Name}: not a Redis resource this AppHost makes."),
        };

        var env = new Dictionary<string, object>
        {
            ["REDIS_ADDR"] = ReferenceExpression.Create($"redis://{endpoint.Property(EndpointProperty.Host)}:{endpoint.Property(EndpointProperty.Port)}"),
            ["REDIS_PASSWORD"] = password,
            ["REDIS_EXPORTER_CHECK_STREAMS"] = QueueStreamPatterns,
        };
        return Mode == InfrastructureMode.Containers
            ? Exporter(_builder.AddContainer(name, RedisExporterImage, RedisExporterTag).WithHttpEndpoint(targetPort: RedisExporterPort, name: "http"), env)
            : Exporter(LocalExporter(name, _binaries!.RedisExporter, "REDIS_EXPORTER_WEB_LISTEN_ADDRESS"), env);
    }

    /// <summary>Debian's binary listening on loopback at the endpoint's port, told by <paramref name="listenVariable"/>.</summary>
    private IResourceBuilder<ExecutableResource> LocalExporter(string name, string binary, string listenVariable)
    {
        var executable = _builder.AddExecutable(name, binary, _builder.AppHostDirectory).WithHttpEndpoint(name: "http");
        var port = executable.GetEndpoint("http").Property(EndpointProperty.TargetPort);
        return executable.WithEnvironment(listenVariable, ReferenceExpression.Create($"127.0.0.1:{port}"));
    }

    /// <summary>The settings (values may hold secrets: environment only), and the health check on /metrics.</summary>
    private IResourceBuilder<IResourceWithWaitSupport> Exporter<T>(IResourceBuilder<T> exporter, IReadOnlyDictionary<string, object> env)
        where T : IResourceWithEnvironment, IResourceWithEndpoints, IResourceWithWaitSupport
    {
        exporter.WithEnvironment(context =>
        {
            foreach (var (key, value) in env)
            {
                context.EnvironmentVariables[key] = value;
            }
        }).WithHttpHealthCheck("/metrics");
        return _builder.CreateResourceBuilder<IResourceWithWaitSupport>(exporter.Resource);
    }
}
