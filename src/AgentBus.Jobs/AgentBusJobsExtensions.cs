using System.Diagnostics.Metrics;
using AgentBus.Data;
using AgentBus.Events;
using AgentBus.Gpu;
using AgentBus.Health;
using AgentBus.Queue;
using AgentBus.Routing;
using AgentBus.Spend;
using AgentBus.Store;
using AgentBus.Telemetry;
using AgentBus.Webhooks;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Npgsql;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace AgentBus;

public static class AgentBusJobsExtensions
{
    /// <summary>Connection names injected by the AppHost (ConnectionStrings__agentbus, ConnectionStrings__redis).</summary>
    public const string PostgresConnectionName = "agentbus";
    public const string RedisConnectionName = "redis";

    /// <summary>
    /// What every service needs to work on jobs: the Postgres and Redis clients with their
    /// readiness checks, the metrics (labelled with <paramref name="component"/>: api, worker or
    /// gpu-agent) and spans, the schema, the job store, the queues and events.
    /// </summary>
    public static IHostApplicationBuilder AddAgentBusJobs(this IHostApplicationBuilder builder, string component)
    {
        builder.AddPostgresAndRedis();
        builder.Services.AddSingleton(sp => new AgentBusMetrics(sp.GetRequiredService<IMeterFactory>(), component)
        {
            DbConnectionsMax = new NpgsqlConnectionStringBuilder(sp.GetRequiredService<NpgsqlDataSource>().ConnectionString).MaxPoolSize,
        });
        builder.Services.ConfigureOpenTelemetryMeterProvider(metrics => metrics.AddMeter(AgentBusMetrics.MeterName));
        builder.Services.ConfigureOpenTelemetryTracerProvider(tracing => tracing.AddSource(AgentBusTracing.SourceName).AddProcessor(new JobSpanTags()));

        // Registered first: hosted services start in order, and nothing may touch the schema before
        // it is current. The services never migrate (AgentBus.Migrations does); they wait for it.
        builder.Services.AddHostedService<SchemaVersion>();
        builder.Services.AddOptions<QueueOptions>().BindConfiguration(QueueOptions.Section)
            .Validate(o => o.Lease >= TimeSpan.FromSeconds(1) && o.MaxAttempts >= 1, "AgentBus:Queue needs Lease >= 1 s and MaxAttempts >= 1.");
        builder.Services.AddSingleton<Database>();
        builder.Services.AddSingleton<TaskQueue>();
        builder.Services.AddSingleton<Outbox>();
        builder.Services.AddSingleton<JobEventBus>();
        builder.Services.AddSingleton<GaugeReporterLease>();
        builder.Services.AddSingleton<GpuLeases>();
        builder.Services.AddSingleton<GpuNodeRegistry>();
        builder.Services.AddSingleton<JobRouter>();
        builder.Services.AddSingleton<JobTransactions>();
        builder.Services.AddSingleton<JobQueries>();
        builder.Services.AddOptions<JobCacheOptions>().BindConfiguration(JobCacheOptions.Section)
            .Validate(o => o.IsValid, $"{JobCacheOptions.Section} needs Ttl from 0 to 1 minute and MaxJobs >= 1.").ValidateOnStart();
        builder.Services.AddSingleton<JobDetailCache>();
        builder.Services.AddSingleton(sp => new JobCommands(sp.GetRequiredService<Database>(), sp.GetRequiredService<JobTransactions>(), sp.GetRequiredService<AgentBusMetrics>()));
        builder.Services.AddSingleton(sp => new StageLedger(sp.GetRequiredService<Database>(), sp.GetRequiredService<JobTransactions>()));
        builder.Services.AddSingleton<LlmSpend>();
        builder.Services.AddSingleton(sp => new ProjectErasure(sp.GetRequiredService<Database>(), sp.GetRequiredService<JobTransactions>(),
            sp.GetRequiredService<TaskQueue>(), sp.GetRequiredService<JobDetailCache>(), sp.GetRequiredService<Microsoft.Extensions.Logging.ILogger<ProjectErasure>>()));
        builder.Services.AddSingleton<RetentionSweep>();
        builder.Services.AddSingleton<WebhookStore>();
        builder.Services.AddOptions<WebhookOptions>().BindConfiguration(WebhookOptions.Section)
            .Validate(o => o.IsValid, $"{WebhookOptions.Section} has a setting out of range (see WebhookOptions).").ValidateOnStart();
        builder.Services.AddHostedService<OutboxRelay>();
        return builder;
    }

    /// <summary>agent_bus_http_requests_total and agent_bus_http_request_duration_seconds for every request from here on.</summary>
    public static IApplicationBuilder UseAgentBusHttpMetrics(this IApplicationBuilder app) => app.UseMiddleware<HttpMetricsMiddleware>();

    private static void AddPostgresAndRedis(this IHostApplicationBuilder builder)
    {
        // The integrations' own health checks are replaced by ours, which name the dependency in
        // the 503 body and time out quickly.
        builder.AddNpgsqlDataSource(PostgresConnectionName, s => s.DisableHealthChecks = true, dataSource =>
        {
            // The same few dozen statements run all day: prepared once per connection, Postgres
            // stops parsing and planning them on every call. A connection string may set its own.
            if (dataSource.ConnectionStringBuilder.MaxAutoPrepare == 0)
            {
                dataSource.ConnectionStringBuilder.MaxAutoPrepare = 100;
            }
            // Sessions carry no state from one use to the next (settings are SET LOCAL, locks are
            // transaction-scoped or released where taken), so a connection going back to the pool
            // skips the reset that would otherwise run five statements on its next use.
            dataSource.ConnectionStringBuilder.NoResetOnClose = true;
        });
        builder.AddRedisClient(RedisConnectionName, s => s.DisableHealthChecks = true,
            configureOptions: o =>
            {
                o.AbortOnConnectFail = false;
                // While Redis is down, fail at once (callers fall back to the outbox or retry)
                // instead of queueing commands until they time out.
                o.BacklogPolicy = StackExchange.Redis.BacklogPolicy.FailFast;
            });

        var timeout = TimeSpan.FromSeconds(3);
        builder.Services.AddHealthChecks()
            .AddCheck<PostgresReadinessCheck>("postgres", timeout: timeout)
            .AddCheck<RedisReadinessCheck>("redis", timeout: timeout);
        builder.Services.AddSingleton<IHealthCheckPublisher, ReadinessGaugePublisher>();
    }
}
