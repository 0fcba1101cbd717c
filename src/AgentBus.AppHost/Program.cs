using AgentBus.AppHost;
using AgentBus.AppHost.Infrastructure;

// The Agent Bus topology. Postgres and Redis are Aspire containers when a container runtime
// answers (always when publishing), else local executables (see Infrastructure/).
// Services get connection strings only: no loose password variables to leak into manifests.
// They connect to Postgres as a role that owns nothing; the one-shot "migrations" resource (a Job in
// Kubernetes) creates the roles and the schema as its owner, and every service waits for it to exit 0.
var builder = DistributedApplication.CreateBuilder(args);
builder.Configuration.AddCommandLine(args, new Dictionary<string, string> { ["--infra"] = InfrastructureOptions.ModeKey });

const string database = "agentbus";
const string appRole = "agentbus_app"; // AgentBus.Data.DatabaseRoles.App, granted by 0009_roles.sql
const string monitorRole = "agentbus_monitor"; // AgentBus.Data.DatabaseRoles.Monitor: pg_monitor, no table rights
var infrastructure = builder.AddAgentBusInfrastructure();
var postgres = infrastructure.AddPostgres("postgres", database, appRole, monitorRole);
var redis = infrastructure.AddRedis("redis");
// Traces and logs: to the Aspire dashboard when running, to an OpenTelemetry Collector in Kubernetes.
var telemetry = infrastructure.AddTelemetryCollector("otel-collector");
var llm = builder.AddLlmParameters();
var apiKey = builder.AddApiKeyParameter();

var migrations = builder.AddProject<Projects.AgentBus_Migrations>("migrations")
    .WithReferenceEnvironment(ReferenceEnvironmentInjectionFlags.ConnectionString)
    .WithReference(postgres.Admin, database).WaitFor(postgres.Admin)
    .WithReference(postgres.App)
    .WithReference(postgres.Monitor)
    .WithTelemetryCollector(telemetry);

// Postgres and Redis seen from their side (pg_stat_statements, locks, memory, streams): scraped
// next to the services. The monitoring role exists once the migrations ran.
infrastructure.AddPostgresExporter("postgres-exporter", postgres).WaitForCompletion(migrations);
infrastructure.AddRedisExporter("redis-exporter", redis).WaitFor(redis);

var api = builder.AddProject<Projects.AgentBus_Api>("api")
    .WithReferenceEnvironment(ReferenceEnvironmentInjectionFlags.ConnectionString)
    .WithReference(postgres.App, database).WaitForCompletion(migrations)
    .WithReference(redis).WaitFor(redis)
    .WithEnvironment("AgentBus__Auth__AdminApiKey", apiKey)
    .WithHttpHealthCheck("/health/ready")
    .WithTelemetryCollector(telemetry);

builder.AddProject<Projects.AgentBus_Worker>("worker")
    .WithReferenceEnvironment(ReferenceEnvironmentInjectionFlags.ConnectionString)
    .WithReference(postgres.App, database).WaitForCompletion(migrations)
    .WithReference(redis).WaitFor(redis)
    .WithLlm(llm)
    .WithHttpHealthCheck("/health/ready")
    .WithTelemetryCollector(telemetry);

builder.AddProject<Projects.AgentBus_GpuAgent>("gpu-agent")
    .WithReferenceEnvironment(ReferenceEnvironmentInjectionFlags.ConnectionString)
    .WithReference(postgres.App, database).WaitForCompletion(migrations)
    .WithReference(redis).WaitFor(redis)
    .WithHttpHealthCheck("/health/ready")
    .WithTelemetryCollector(telemetry);

// The web app for people: it calls the api with each person's own credential; Redis keeps the
// keys that encrypt their sign-in cookies, shared by every replica.
builder.AddProject<Projects.AgentBus_Web>("web")
    .WithReferenceEnvironment(ReferenceEnvironmentInjectionFlags.ConnectionString | ReferenceEnvironmentInjectionFlags.ServiceDiscovery)
    .WithReference(api).WaitFor(api)
    .WithReference(redis).WaitFor(redis)
    .WithHttpHealthCheck("/health/ready")
    .WithTelemetryCollector(telemetry);

builder.Build().Run();
