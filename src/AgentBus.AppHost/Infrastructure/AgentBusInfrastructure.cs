using HealthChecks.Redis;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Npgsql;

namespace AgentBus.AppHost.Infrastructure;

/// <summary>Adds Postgres and Redis in the mode this machine supports; see <see cref="InfrastructureOptions"/>.</summary>
public sealed partial class AgentBusInfrastructure
{
    // initdb on the first start only, so the resource's Stop/Start commands keep the data.
    // Output goes to stdout: Postgres logs to stderr, which the dashboard would show as errors.
    private const string PostgresScript = """
        set -euo pipefail
        if [ ! -s "$PGDATA/PG_VERSION" ]; then
          "$AGENTBUS_PG_BIN/initdb" -D "$PGDATA" -U postgres -A scram-sha-256 -E UTF8 --no-sync \
            --pwfile=<(printf '%s' "$AGENTBUS_PG_PASSWORD") > /dev/null
          printf 'CREATE DATABASE "%s";\n' "$AGENTBUS_PG_DATABASE" \
            | "$AGENTBUS_PG_BIN/postgres" --single -D "$PGDATA" postgres > /dev/null
        fi
        exec "$AGENTBUS_PG_BIN/postgres" -D "$PGDATA" -c listen_addresses=localhost \
          -c unix_socket_directories="$PGDATA" -c max_connections=300 \
          -c shared_preload_libraries="$AGENTBUS_PG_PRELOAD" -c "$AGENTBUS_PG_TRACKING" 2>&1
        """;

    // The password reaches redis-server on stdin, not on its command line where ps would show it.
    private const string RedisScript = """
        set -euo pipefail
        exec "$AGENTBUS_REDIS_SERVER" - <<CONFIG
        port $AGENTBUS_REDIS_PORT
        bind 127.0.0.1
        requirepass $AGENTBUS_REDIS_PASSWORD
        dir $AGENTBUS_REDIS_DIR
        appendonly yes
        save ""
        maxmemory $AGENTBUS_REDIS_MAXMEMORY
        maxmemory-policy noeviction
        CONFIG
        """;

    // Redis holds the queues, retry sets, dead letters, GPU heartbeats and the web app's Data
    // Protection keys: none may be evicted. At the limit Redis refuses writes instead (producers
    // keep their tasks in the outbox), well before the container's memory limit (1Gi) kills it;
    // the headroom is for the fork that rewrites the append-only file or saves a snapshot.
    public const string RedisMaxMemory = "512mb";
    public const string RedisMaxMemoryPolicy = "noeviction";

    /// <summary>Loaded at server start: pg_stat_statements (the dashboard's slow queries; the
    /// extension itself is created by migration 0010).</summary>
    public const string PostgresPreloadLibraries = "pg_stat_statements";

    /// <summary>Statements only, no utility commands: those keep their literals, and the migrations'
    /// ALTER ROLE ... PASSWORD would reach every reader of pg_stat_statements (the monitoring role,
    /// and through the exporter's labels, Prometheus).</summary>
    public const string PostgresStatementTracking = "pg_stat_statements.track_utility=off";

    private readonly IDistributedApplicationBuilder _builder;
    private readonly LocalBinaries? _binaries;
    private RunStateFolder? _state;

    private AgentBusInfrastructure(IDistributedApplicationBuilder builder, InfrastructureMode mode, LocalBinaries? binaries)
    {
        _builder = builder;
        Mode = mode;
        _binaries = binaries;
    }

    /// <summary>Containers or Local: what <see cref="InfrastructureMode.Auto"/> resolved to.</summary>
    public InfrastructureMode Mode { get; }

    public static AgentBusInfrastructure Resolve(IDistributedApplicationBuilder builder)
    {
        var requested = InfrastructureOptions.ReadMode(builder.Configuration);
        if (builder.ExecutionContext.IsPublishMode || requested == InfrastructureMode.Containers)
        {
            return new(builder, InfrastructureMode.Containers, null);
        }

        var runtimeDetail = "not asked (local mode requested)";
        if (requested == InfrastructureMode.Auto && InfrastructureOptions.ContainerRuntimeAnswers(builder.Configuration, out runtimeDetail))
        {
            return new(builder, InfrastructureMode.Containers, null);
        }

        var binaries = LocalBinaries.Find(builder.Configuration, out var missing);
        if (binaries is null)
        {
            throw new DistributedApplicationException(
                "Agent Bus cannot run Postgres and Redis on this machine. " +
                $"Container runtime: {runtimeDetail}. Local binaries missing: {string.Join("; ", missing)}. " +
                $"Install those packages, or start a container engine (or set {InfrastructureOptions.ModeKey}=containers).");
        }
        return new(builder, InfrastructureMode.Local, binaries);
    }

    /// <summary>
    /// The database, reached two ways: as its administrator (only the migrations) and as the app
    /// role, which owns nothing (the services); the migrations create that role with the generated
    /// password <c>&lt;name&gt;-app-password</c> (docs/security.md, "Database roles"), and the
    /// monitoring role of postgres_exporter with <c>&lt;name&gt;-monitor-password</c>.
    /// </summary>
    public PostgresDatabase AddPostgres(string name, string databaseName, string appRole, string monitorRole)
    {
        var (admin, endpoint) = AddPostgresServer(name, databaseName);
        var app = AddLogin(name, "app", endpoint, databaseName, appRole);
        var monitor = AddLogin(name, "monitor", endpoint, databaseName, monitorRole);
        return new(admin, app.ConnectionString, monitor.ConnectionString, new(endpoint, databaseName, monitorRole, monitor.Password));
    }

    private (IResourceBuilder<ConnectionStringResource> ConnectionString, ParameterResource Password) AddLogin(
        string server, string purpose, EndpointReference endpoint, string databaseName, string role)
    {
        var password = _builder.AddParameter($"{server}-{purpose}-password", new GenerateParameterDefault { MinLength = 32, Special = false }, secret: true, persist: true);
        var connectionString = _builder.AddConnectionString($"{databaseName}-{purpose}", ReferenceExpression.Create(
            $"Host={endpoint.Property(EndpointProperty.Host)};Port={endpoint.Property(EndpointProperty.Port)};Username={role};Password={password.Resource};Database={databaseName}"));
        return (connectionString, password.Resource);
    }

    private (IResourceBuilder<IResourceWithConnectionString> Admin, EndpointReference Endpoint) AddPostgresServer(string name, string databaseName)
    {
        if (Mode == InfrastructureMode.Containers)
        {
            // The image's entrypoint passes arguments that start with "-" to postgres.
            var server = _builder.AddPostgres(name).WithDataVolume()
                .WithArgs("-c", $"shared_preload_libraries={PostgresPreloadLibraries}", "-c", PostgresStatementTracking);
            return (server.AddDatabase(databaseName), server.Resource.PrimaryEndpoint);
        }

        var password = ParameterResourceBuilderExtensions.CreateDefaultPasswordParameter(_builder, $"{name}-password", special: false);
        var (command, args) = AsUser("postgres", "bash", "-c", PostgresScript);
        var resource = new LocalPostgresResource(name, command, _builder.AppHostDirectory, password, databaseName);
        var postgres = _builder.AddResource(resource)
            .WithArgs(args)
            .WithEndpoint(name: "tcp", scheme: "tcp", env: "PGPORT")
            .WithEnvironment("AGENTBUS_PG_BIN", _binaries!.PostgresBinDir)
            .WithEnvironment("AGENTBUS_PG_PASSWORD", password)
            .WithEnvironment("AGENTBUS_PG_DATABASE", databaseName)
            .WithEnvironment("AGENTBUS_PG_PRELOAD", PostgresPreloadLibraries)
            .WithEnvironment("AGENTBUS_PG_TRACKING", PostgresStatementTracking);
        if (_builder.ExecutionContext.IsRunMode)
        {
            postgres.WithEnvironment("PGDATA", State.SubFolder("postgres", owner: "postgres"));
        }
        return (postgres.WithServerHealthCheck(cs => new PostgresPing(cs)), resource.PrimaryEndpoint);
    }

    public IResourceBuilder<IResourceWithConnectionString> AddRedis(string name)
    {
        if (Mode == InfrastructureMode.Containers)
        {
            // Queue entries live in Redis: persist them (a snapshot each second with changes), as local mode does with its append-only file.
            // The container runs `sh -c "redis-server ..."`: the limits belong in that command line,
            // where arguments after it would only become the shell's $0, $1.
            return _builder.AddRedis(name).WithDataVolume().WithPersistence(TimeSpan.FromSeconds(1), keysChangedThreshold: 1)
                .WithArgs(context =>
                {
                    var command = context.Args.OfType<string>().FirstOrDefault(a => a.StartsWith("redis-server ", StringComparison.Ordinal))
                        ?? throw new InvalidOperationException("The Redis container's command line has no redis-server: its memory limit cannot be set.");
                    context.Args[context.Args.IndexOf(command)] = $"{command} --maxmemory {RedisMaxMemory} --maxmemory-policy {RedisMaxMemoryPolicy}";
                });
        }

        var password = ParameterResourceBuilderExtensions.CreateDefaultPasswordParameter(_builder, $"{name}-password", special: false);
        var resource = new LocalRedisResource(name, "bash", _builder.AppHostDirectory, password);
        var redis = _builder.AddResource(resource)
            .WithArgs("-c", RedisScript)
            .WithEndpoint(name: "tcp", scheme: "tcp", env: "AGENTBUS_REDIS_PORT")
            .WithEnvironment("AGENTBUS_REDIS_SERVER", _binaries!.RedisServer)
            .WithEnvironment("AGENTBUS_REDIS_MAXMEMORY", RedisMaxMemory)
            .WithEnvironment("AGENTBUS_REDIS_PASSWORD", password);
        if (_builder.ExecutionContext.IsRunMode)
        {
            redis.WithEnvironment("AGENTBUS_REDIS_DIR", State.SubFolder("redis"));
        }
        return redis.WithServerHealthCheck(cs => new RedisHealthCheck(cs));
    }

    private RunStateFolder State => _state ??= RunStateFolder.Create(_builder);

    /// <summary>Postgres refuses to run as root: under root, setpriv execs the server as its own user, in place, so the orchestrator still tracks and signals it.</summary>
    private static (string Command, string[] Args) AsUser(string user, string command, params string[] args) =>
        Environment.UserName == "root"
            ? ("setpriv", [$"--reuid={user}", $"--regid={user}", "--init-groups", "--", command, .. args])
            : (command, args);

    /// <summary>SELECT 1 on a fresh connection: a pooled one could outlive a server restart.</summary>
    private sealed class PostgresPing(string connectionString) : IHealthCheck
    {
        private readonly string _connectionString = new NpgsqlConnectionStringBuilder(connectionString) { Pooling = false, Timeout = 3 }.ConnectionString;

        public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
        {
            await using var connection = new NpgsqlConnection(_connectionString);
            await connection.OpenAsync(cancellationToken);
            await using var command = new NpgsqlCommand("SELECT 1", connection);
            await command.ExecuteScalarAsync(cancellationToken);
            return HealthCheckResult.Healthy();
        }
    }
}
