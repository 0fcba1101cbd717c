using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// What every service shares, knowing nothing of what the service does: JSON logs, OpenTelemetry
/// (OTLP when configured, Prometheus always), health endpoints in every environment, service
/// discovery and resilient HttpClients. Libraries add their own meters, activity sources and
/// readiness checks (ConfigureOpenTelemetryMeterProvider, AddHealthChecks); /metrics, the traces
/// and /health/ready pick them up.
/// </summary>
public static class Extensions
{
    public const string LivenessPath = "/health";
    public const string ReadinessPath = "/health/ready";
    public const string MetricsPath = "/metrics";

    /// <summary>false turns off OpenTelemetry (traces, metrics, log export) and /metrics; default on. For measuring what telemetry costs.</summary>
    public const string TelemetryEnabledKey = "AgentBus:Telemetry:Enabled";

    /// <summary>
    /// Share of read requests (GET, HEAD) whose traces are kept, 0 to 1; default 0.1. Status polls
    /// are most of an api's traffic and its least telling traces. Writes, actions and reads whose
    /// caller sampled the trace (a sampled traceparent) are always traced; metrics and logs count
    /// every request either way.
    /// </summary>
    public const string ReadTraceRatioKey = "AgentBus:Telemetry:ReadTraceRatio";

    public static TBuilder AddServiceDefaults<TBuilder>(this TBuilder builder, string component)
        where TBuilder : IHostApplicationBuilder
    {
        builder.Services.ConfigureHttpJsonOptions(o =>
        {
            o.SerializerOptions.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower;
            o.SerializerOptions.Converters.Add(new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower));
        });

        builder.ConfigureJsonLogging();
        if (TelemetryEnabled(builder.Configuration))
        {
            builder.ConfigureOpenTelemetry(component);
        }
        builder.AddReadiness();

        builder.Services.AddServiceDiscovery();
        builder.Services.ConfigureHttpClientDefaults(http =>
        {
            // Trace-level request logs name every header: none of their values (Authorization,
            // x-api-key) may be written.
            http.RedactLoggedHeaders(_ => true);
            http.AddStandardResilienceHandler();
            http.AddServiceDiscovery();
        });
        builder.Services.AddProblemDetails();
        builder.Services.AddForwardedHeadersTrust();
        return builder;
    }

    private static void ConfigureJsonLogging(this IHostApplicationBuilder builder)
    {
        builder.Logging.ClearProviders();
        builder.Logging.AddConsole(o => o.FormatterName = JsonLineFormatter.FormatterName)
            .AddConsoleFormatter<JsonLineFormatter, ConsoleFormatterOptions>();
        // Puts trace_id and span_id of the current Activity into every log line's scope.
        builder.Logging.Configure(o => o.ActivityTrackingOptions =
            ActivityTrackingOptions.TraceId | ActivityTrackingOptions.SpanId);
        // Last line of defence: configured passwords, keys and tokens are masked in every log record.
        builder.Services.AddSecretRedaction();
    }

    private static void ConfigureOpenTelemetry(this IHostApplicationBuilder builder, string component)
    {
        builder.Logging.AddOpenTelemetry(logging =>
        {
            logging.IncludeFormattedMessage = true;
            logging.IncludeScopes = true;
        });

        var readTraceRatio = ReadTraceRatio(builder.Configuration);
        builder.Services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService(serviceName: builder.Configuration["OTEL_SERVICE_NAME"] ?? component))
            .WithMetrics(metrics => metrics
                // ASP.NET Core's meters named one by one: the ones docs/metrics.md describes, not all
                // that AddAspNetCoreInstrumentation() subscribes to. Authentication, authorization,
                // rate limiting and the memory pool record on every request and nothing reads them.
                .AddMeter("Microsoft.AspNetCore.Hosting", "Microsoft.AspNetCore.Server.Kestrel", "Microsoft.AspNetCore.Routing", "Microsoft.AspNetCore.Diagnostics")
                .AddHttpClientInstrumentation()
                .AddRuntimeInstrumentation()
                .AddPrometheusExporter())
            .WithTracing(tracing => tracing
                .SetSampler(new ParentBasedSampler(new BackgroundSpanSampler()))
                .AddSource(builder.Environment.ApplicationName)
                .AddAspNetCoreInstrumentation(o => o.Filter = ctx => IsTraced(ctx, readTraceRatio))
                .AddHttpClientInstrumentation());

        if (!string.IsNullOrWhiteSpace(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]))
        {
            builder.Services.AddOpenTelemetry().UseOtlpExporter();
        }
    }

    /// <summary>
    /// /health/ready runs every registered health check (the libraries add theirs, such as the
    /// Postgres and Redis checks); the publisher options let a library keep a readiness gauge
    /// current between probes.
    /// </summary>
    private static void AddReadiness(this IHostApplicationBuilder builder)
    {
        builder.Services.AddHealthChecks();
        builder.Services.AddSingleton<ReadinessProbe>();
        builder.Services.Configure<HealthCheckPublisherOptions>(o =>
        {
            o.Delay = TimeSpan.FromSeconds(1);
            o.Period = TimeSpan.FromSeconds(5);
        });
    }

    /// <summary>
    /// Health and metrics endpoints, in every environment: Kubernetes probes and Prometheus need
    /// them, without credentials (the only endpoints a service opens to anyone, by name).
    /// </summary>
    public static WebApplication MapDefaultEndpoints(this WebApplication app)
    {
        app.MapGet(LivenessPath, () => TypedResults.Ok(new LivenessResponse("healthy", DateTimeOffset.UtcNow.ToUnixTimeSeconds())))
            .ExcludeFromDescription().AllowAnonymous();
        app.MapGet(ReadinessPath, ReadinessResponse.AnswerAsync).ExcludeFromDescription().AllowAnonymous();
        if (TelemetryEnabled(app.Configuration))
        {
            app.MapPrometheusScrapingEndpoint(MetricsPath).AllowAnonymous();
        }
        return app;
    }

    private static bool TelemetryEnabled(Configuration.IConfiguration configuration) =>
        Configuration.ConfigurationBinder.GetValue(configuration, TelemetryEnabledKey, defaultValue: true);

    private static double ReadTraceRatio(Configuration.IConfiguration configuration)
    {
        var ratio = Configuration.ConfigurationBinder.GetValue(configuration, ReadTraceRatioKey, defaultValue: 0.1);
        return ratio is >= 0 and <= 1
            ? ratio
            : throw new InvalidOperationException($"{ReadTraceRatioKey} is {ratio}; it must be between 0 and 1 (the share of GET and HEAD requests traced).");
    }

    /// <summary>
    /// Whether a request's server span is recorded (and with it, parent-based, the spans made on
    /// its behalf). Never probes and scrapes: every few seconds, they would drown the real traces.
    /// Reads at <paramref name="readRatio"/>, unless the caller sampled the trace. All else always.
    /// </summary>
    internal static bool IsTraced(HttpContext context, double readRatio) =>
        !IsOperationalPath(context.Request.Path)
        && (!(HttpMethods.IsGet(context.Request.Method) || HttpMethods.IsHead(context.Request.Method))
            // The filter runs as the request's activity starts, so it is the current one.
            || System.Diagnostics.Activity.Current is { HasRemoteParent: true, Recorded: true }
            || Random.Shared.NextDouble() < readRatio);

    internal static bool IsOperationalPath(PathString path) =>
        path.StartsWithSegments(LivenessPath) || path.StartsWithSegments(MetricsPath);

    private sealed record LivenessResponse(string Status, long Timestamp);
}
