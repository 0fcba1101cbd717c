namespace AgentBus.AppHost.Infrastructure;

/// <summary>
/// Where the services' traces and logs go. Run locally, Aspire points every service's OTLP exporter
/// at its dashboard. Published (Kubernetes), there is no dashboard: an OpenTelemetry Collector takes
/// its place and forwards traces to Tempo and logs to Loki (k8s/monitoring/otel-collector-config.yaml,
/// docs/deploy.md "Traces and logs"); Prometheus keeps scraping the metrics.
/// </summary>
public sealed partial class AgentBusInfrastructure
{
    public const string OtelCollectorImage = "docker.io/otel/opentelemetry-collector-contrib";
    public const string OtelCollectorTag = "0.120.0";
    public const int OtlpGrpcPort = 4317;
    /// <summary>The collector's own metrics (/metrics), which its probes use too.</summary>
    public const int OtelCollectorMetricsPort = 8888;
    /// <summary>Where the container reads k8s/monitoring/otel-collector-config.yaml (a ConfigMap in Kubernetes).</summary>
    public const string OtelCollectorConfigMount = "/etc/otelcol/config.yaml";

    /// <summary>The collector when publishing; null when running (the dashboard is the destination then).</summary>
    public IResourceBuilder<ContainerResource>? AddTelemetryCollector(string name) =>
        _builder.ExecutionContext.IsPublishMode
            ? _builder.AddContainer(name, OtelCollectorImage, OtelCollectorTag)
                .WithArgs($"--config={OtelCollectorConfigMount}")
                .WithEndpoint(targetPort: OtlpGrpcPort, name: "otlp", scheme: "http")
                .WithHttpEndpoint(targetPort: OtelCollectorMetricsPort, name: "http")
            : null;
}
