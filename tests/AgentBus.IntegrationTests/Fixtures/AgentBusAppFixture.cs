using System.Diagnostics;
using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace AgentBus.IntegrationTests.Fixtures;

/// <summary>
/// A whole Agent Bus (local Postgres and Redis, api, worker, gpu-agent, web) started from the real
/// AppHost. Subclasses adjust the topology (more workers, settings) before it starts.
/// </summary>
public abstract class AgentBusAppFixture : IAsyncLifetime
{
    /// <summary>The services that work on jobs (Postgres and Redis behind each, the agent_bus_* series).</summary>
    public static readonly string[] Services = ["api", "worker", "gpu-agent"];

    /// <summary>The web app: a client of the api, with Redis for its cookie keys (tests/.../Web).</summary>
    public const string Web = "web";
    public static readonly TimeSpan StartTimeout = TimeSpan.FromMinutes(3);

    /// <summary>The one-shot resource that creates the roles and the schema, and the connection
    /// string of the app role the services use ("postgres" is the administrator's).</summary>
    public const string Migrations = "migrations";
    public const string AppConnectionString = "agentbus-app";
    public const string MonitorConnectionString = "agentbus-monitor";

    private DistributedApplication? _app;
    private readonly ConcurrentQueue<ResourceLogLine> _logs = new();

    public DistributedApplication App => _app ?? throw new InvalidOperationException("The AppHost has not started.");

    /// <summary>The api's bootstrap admin key (the AppHost's api-key parameter); clients of the api carry it by default.</summary>
    public string AdminApiKey { get; } = "abk_test_" + Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(16));

    /// <summary>The api accepts HS256 JWTs signed with this key, issued by TestJwt.Issuer for TestJwt.Audience.</summary>
    public string JwtSigningKey { get; } = Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));

    /// <summary>
    /// Every line the resources chosen by <see cref="CollectsLogsOf"/> printed, in order per resource:
    /// what the orchestrator wrote about the resource (waiting for dependencies, "[sys] Starting
    /// process...") and then what the process printed, each line prefixed with DCP's timestamp.
    /// </summary>
    public IReadOnlyCollection<ResourceLogLine> Logs => _logs;

    /// <summary>
    /// The AppHost's own warnings and errors so far (the orchestrator's, not the resources'),
    /// oldest first, as "level category: message exception".
    /// </summary>
    public IReadOnlyList<string> AppHostLog() =>
        App.Services.GetFakeLogCollector().GetSnapshot()
            .Select(r => $"{r.Level} {r.Category}: {r.Message} {r.Exception?.GetType().Name} {r.Exception?.Message}".TrimEnd())
            .ToList();

    /// <summary>Which resources' lines <see cref="Logs"/> keeps; none unless a fixture asks.</summary>
    protected virtual bool CollectsLogsOf(string resource) => false;

    /// <summary>Command-line arguments of the AppHost (its configuration).</summary>
    protected virtual string[] Args => [];

    /// <summary>Extra resources to wait for, beyond the standard five.</summary>
    protected virtual IEnumerable<string> ExtraResources => [];

    protected virtual void Configure(IDistributedApplicationTestingBuilder builder)
    {
    }

    /// <summary>
    /// Runs after the OTLP endpoint of every project (those Configure added included) is removed:
    /// environment callbacks run in order, so one added here can point them at a receiver.
    /// </summary>
    protected virtual void ConfigureTelemetry(IDistributedApplicationTestingBuilder builder)
    {
    }

    public virtual async ValueTask InitializeAsync()
    {
        using var cts = new CancellationTokenSource(StartTimeout);
        var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.AgentBus_AppHost>(
            ["--infra", "local", .. Args], (options, _) => options.DisableDashboard = true, cts.Token);
        // Health probes failing while resources start (or while a test stops one) are expected:
        // left on, they bury a failing test's real message in hundreds of stack traces.
        // What is left (the orchestrator's warnings and errors) is kept in memory: a test that
        // fails on a resource names what the AppHost said about it (see AppHostLog).
        builder.Services.AddLogging(logging => logging.SetMinimumLevel(LogLevel.Warning)
            .AddFilter("Microsoft.Extensions.Diagnostics.HealthChecks", LogLevel.None)
            .AddFilter("Aspire.Hosting.Dcp", LogLevel.Error)
            .AddFakeLogging());
        builder.Configuration["Parameters:api-key"] = AdminApiKey;
        builder.Project("api")
            .WithEnvironment("AgentBus__Auth__Jwt__Issuer", TestJwt.Issuer)
            .WithEnvironment("AgentBus__Auth__Jwt__Audience", TestJwt.Audience)
            .WithEnvironment("AgentBus__Auth__Jwt__SigningKey", JwtSigningKey)
            // Workloads of 50 jobs polled by one key would meet the production limits; the limits
            // themselves are tested by RateLimitTests, whose fixture sets small ones after these.
            .WithEnvironment("AgentBus__RateLimits__PerKey__PermitsPerSecond", "100000")
            .WithEnvironment("AgentBus__RateLimits__PerKey__Burst", "100000")
            .WithEnvironment("AgentBus__RateLimits__PerAddress__PermitsPerSecond", "100000")
            .WithEnvironment("AgentBus__RateLimits__PerAddress__Burst", "100000");
        Configure(builder);
        foreach (var project in builder.Resources.OfType<ProjectResource>())
        {
            // Nothing listens on the OTLP endpoint the testing builder sets: flushing to it on
            // shutdown would cost seconds per run.
            builder.CreateResourceBuilder(project).WithEnvironment(e => e.EnvironmentVariables.Remove("OTEL_EXPORTER_OTLP_ENDPOINT"));
        }
        ConfigureTelemetry(builder);

        _app = await builder.BuildAsync(cts.Token);
        await _app.StartAsync(cts.Token);
        CollectLogs(_app);
        foreach (var resource in new[] { "postgres", "redis" }.Concat(Services).Append(Web).Concat(ExtraResources))
        {
            await _app.ResourceNotifications.WaitForResourceHealthyAsync(resource, cts.Token);
        }
    }

    private void CollectLogs(DistributedApplication app)
    {
        var logs = app.Services.GetRequiredService<ResourceLoggerService>();
        foreach (var resource in app.Services.GetRequiredService<DistributedApplicationModel>().Resources.Where(r => CollectsLogsOf(r.Name)))
        {
            // WatchAsync replays what was printed before it started, so startup lines are kept too.
            _ = Task.Run(async () =>
            {
                await foreach (var batch in logs.WatchAsync(resource))
                {
                    foreach (var line in batch)
                    {
                        _logs.Enqueue(new ResourceLogLine(resource.Name, line.Content, line.IsErrorMessage));
                    }
                }
            });
        }
    }

    /// <summary>
    /// A second worker, "worker-2", wired like the first (add it to ExtraResources). Added by its
    /// AppHost metadata type, not by path: a project added by path is built by `dotnet run` on
    /// every start, so each restart would rebuild the worker the other one runs from. It does not
    /// wait for the migrations: like a pod in Kubernetes it may start first, and waits for the
    /// schema (and its login) itself.
    /// </summary>
    protected static IResourceBuilder<ProjectResource> AddSecondWorker(IDistributedApplicationTestingBuilder builder) =>
        builder.AddProject<Projects.AgentBus_Worker>("worker-2")
            .WithReferenceEnvironment(ReferenceEnvironmentInjectionFlags.ConnectionString)
            .WithReference(builder.CreateResourceBuilder((IResourceWithConnectionString)builder.Resources.Single(r => r.Name == AppConnectionString)), "agentbus")
            .WithReference(builder.CreateResourceBuilder((IResourceWithConnectionString)builder.Resources.Single(r => r.Name == "redis")))
            .WithHttpHealthCheck("/health/ready");

    /// <summary>Points every project's OTLP export at <paramref name="endpoint"/> (http/protobuf, 200 ms batches).</summary>
    protected static void ExportTelemetryTo(IDistributedApplicationTestingBuilder builder, Func<Uri> endpoint)
    {
        foreach (var project in builder.Resources.OfType<ProjectResource>())
        {
            builder.CreateResourceBuilder(project).WithEnvironment(e =>
            {
                e.EnvironmentVariables["OTEL_EXPORTER_OTLP_ENDPOINT"] = endpoint().ToString().TrimEnd('/');
                e.EnvironmentVariables["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf";
                e.EnvironmentVariables["OTEL_BLRP_SCHEDULE_DELAY"] = "200";
                e.EnvironmentVariables["OTEL_BSP_SCHEDULE_DELAY"] = "200";
            });
        }
    }

    /// <summary>
    /// Starts a resource a test stopped or killed again and waits until it is healthy; a failure
    /// names the resource's last log lines and the AppHost's last warnings and errors.
    /// </summary>
    /// <summary>
    /// The pid of a service of this fixture: the process whose service name is <paramref name="resource"/>
    /// and whose Redis connection string names this fixture's Redis (its port is unique to this run;
    /// other test runs on the machine have services of the same name).
    /// </summary>
    public async Task<int> PidOf(string resource)
    {
        var endpoint = (await ConnectionStringAsync("redis")).Split(',')[0];
        var port = endpoint[(endpoint.LastIndexOf(':') + 1)..];
        var matches = new List<int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), System.Globalization.CultureInfo.InvariantCulture, out var pid))
            {
                continue;
            }
            string[] environment;
            try
            {
                environment = (await File.ReadAllTextAsync(Path.Combine(dir, "environ"))).Split('\0');
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                continue;   // gone meanwhile, or not ours to read
            }
            if (environment.Contains($"OTEL_SERVICE_NAME={resource}")
                && environment.Any(v => v.StartsWith("ConnectionStrings__redis=", StringComparison.Ordinal) && v.Split(',')[0].EndsWith($":{port}", StringComparison.Ordinal)))
            {
                matches.Add(pid);
            }
        }
        // A launcher (dotnet run) shares the environment of the worker it starts: take the leaf.
        var parents = matches.Select(ParentOf).ToHashSet();
        return matches.SingleOrDefault(m => !parents.Contains(m)) is var leaf and > 0
            ? leaf
            : throw new InvalidOperationException($"no single running process of {resource} ({string.Join(", ", matches)})");
    }

    /// <summary>The parent process of <paramref name="pid"/> (0 when it is gone).</summary>
    public static int ParentOf(int pid)
    {
        try
        {
            // /proc/<pid>/stat: "pid (comm) state ppid ..."; comm may hold spaces, so read after the last ')'.
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
        }
        catch (IOException)
        {
            return 0;
        }
    }

    /// <summary>Kills the process at once (SIGKILL): no shutdown hook runs, nothing is released or deregistered.</summary>
    public static async Task KillAsync(int pid)
    {
        // kill(0) signals this process's whole group (the test run itself), kill(1) init.
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(pid, 1);
        using var victim = Process.GetProcessById(pid);
        victim.Kill();
        await victim.WaitForExitAsync();
    }

    public async Task RestartAsync(string resource)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        await WaitStoppedAsync(resource);
        var start = await App.ResourceCommands.ExecuteCommandAsync(resource, KnownResourceCommands.StartCommand, timeout.Token);
        try
        {
            if (!start.Success)
            {
                throw new DistributedApplicationException($"the start command failed: {start.Message}");
            }
            // Not the default StopOnResourceUnavailable: after the start command has published
            // "Starting", the orchestrator may still publish the old process's "Finished" or
            // "Exited" (seen: Finished, Starting, Finished, then Running), and that wait takes
            // any such state for the new process failing to start.
            await App.ResourceNotifications.WaitForResourceHealthyAsync(resource, WaitBehavior.WaitOnResourceUnavailable, timeout.Token);
        }
        catch (Exception e) when (e is OperationCanceledException or DistributedApplicationException)
        {
            // Say why: the restarted process's own last lines and what the orchestrator logged
            // (a CI log shows nothing else of either).
            throw new TimeoutException(
                $"{resource} not healthy after its restart ({e.Message}); its last log lines:\n{string.Join("\n", await LastLogLinesAsync(resource, 60))}"
                + $"\nthe AppHost's last warnings and errors:\n{string.Join("\n", AppHostLog().TakeLast(20))}", e);
        }
    }

    /// <summary>Waits until the orchestrator reports the resource stopped (by a test's kill, signal or stop command).</summary>
    public Task WaitStoppedAsync(string resource) =>
        EventuallyAsync(
            () => Task.FromResult(App.ResourceNotifications.TryGetCurrentState(resource, out var s) ? s.Snapshot.State?.Text : null),
            state => state is "Exited" or "Finished" or "FailedToStart", TimeSpan.FromSeconds(30), $"{resource} reported stopped");

    public async Task<IReadOnlyList<string>> LastLogLinesAsync(string resource, int count)
    {
        var lines = new List<string>();
        using var enough = new CancellationTokenSource(TimeSpan.FromSeconds(3));
        try
        {
            await foreach (var batch in App.Services.GetRequiredService<ResourceLoggerService>().WatchAsync(resource).WithCancellation(enough.Token))
            {
                lines.AddRange(batch.Select(l => l.Content));
            }
        }
        catch (OperationCanceledException)
        {
            // The backlog has arrived; nothing more is coming.
        }
        return lines.TakeLast(count).ToList();
    }

    /// <summary>A client of the service; the api's carries the admin key.</summary>
    public HttpClient CreateClient(string service) => service == "api" ? CreateClient(service, AdminApiKey) : CreateAnonymousClient(service);

    /// <summary>A client of the service that sends <paramref name="apiKey"/> as X-Api-Key.</summary>
    public HttpClient CreateClient(string service, string apiKey)
    {
        var client = CreateAnonymousClient(service);
        client.DefaultRequestHeaders.Add("X-Api-Key", apiKey);
        return client;
    }

    /// <summary>A client of the api that sends <paramref name="token"/> as Authorization: Bearer.</summary>
    public HttpClient CreateBearerClient(string token)
    {
        var client = CreateAnonymousClient("api");
        client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        return client;
    }

    public HttpClient CreateAnonymousClient(string service = "api") => App.CreateHttpClient(service, "http");

    public AgentBusClient Api() => new(CreateClient("api"));

    public async Task<string> ConnectionStringAsync(string resource) =>
        await App.GetConnectionStringAsync(resource) ?? throw new InvalidOperationException($"{resource} has no connection string");

    /// <summary>
    /// For a test's own queries. Unpooled: a pooled connection could outlive a Postgres restart
    /// made by an earlier test of the same fixture and fail its first command.
    /// </summary>
    public async Task<string> PostgresConnectionStringAsync() =>
        new Npgsql.NpgsqlConnectionStringBuilder(await ConnectionStringAsync("postgres")) { Pooling = false }.ConnectionString;

    public virtual async ValueTask DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.DisposeAsync();
        }
        GC.SuppressFinalize(this);
    }

    /// <summary>The job's events as stored, read straight from Postgres.</summary>
    public async Task<List<JsonObject>> EventsAsync(Guid jobId)
    {
        await using var connection = new NpgsqlConnection(await PostgresConnectionStringAsync());
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            "SELECT json_build_object('seq', seq, 'type', type, 'stage', stage, 'data', data)::text FROM job_events WHERE job_id = $1 ORDER BY seq", connection);
        command.Parameters.AddWithValue(jobId);
        var events = new List<JsonObject>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            events.Add(JsonNode.Parse(reader.GetString(0))!.AsObject());
        }
        return events;
    }

    public async Task<JsonObject> WaitForStageStartedAsync(Guid jobId, string stage) =>
        (await EventuallyAsync(() => EventsAsync(jobId),
            events => events.Any(e => (string?)e["type"] == "stage_started" && (string?)e["stage"] == stage),
            TimeSpan.FromSeconds(60), $"{stage} starting"))
        .First(e => (string?)e["type"] == "stage_started" && (string?)e["stage"] == stage);

    /// <summary>Polls until <paramref name="condition"/> holds, failing with the last observation (as <paramref name="describe"/> tells it).</summary>
    public static async Task<T> EventuallyAsync<T>(Func<Task<T>> observe, Func<T, bool> condition, TimeSpan timeout, string what, Func<T, string>? describe = null)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var last = await observe();
            if (condition(last))
            {
                return last;
            }
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"{what} did not happen within {timeout.TotalSeconds} s; last observation: {(describe is null ? last : describe(last))}");
            }
            await Task.Delay(200);
        }
    }
}
