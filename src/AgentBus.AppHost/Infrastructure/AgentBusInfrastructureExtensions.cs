using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace AgentBus.AppHost.Infrastructure;

public static class AgentBusInfrastructureExtensions
{
    public static AgentBusInfrastructure AddAgentBusInfrastructure(this IDistributedApplicationBuilder builder) =>
        AgentBusInfrastructure.Resolve(builder);

    /// <summary>Sends the service's traces and logs (OTLP over gRPC) to the collector, when there is one (publishing).</summary>
    public static IResourceBuilder<ProjectResource> WithTelemetryCollector(this IResourceBuilder<ProjectResource> service,
        IResourceBuilder<ContainerResource>? collector) =>
        collector is null ? service : service
            .WithEnvironment("OTEL_EXPORTER_OTLP_ENDPOINT", collector.GetEndpoint("otlp"))
            .WithEnvironment("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc");

    /// <summary>
    /// A health check that starts once the server's endpoint (and so its connection string) exists,
    /// so WaitFor waits until the server accepts connections, not only until its process runs.
    /// </summary>
    internal static IResourceBuilder<IResourceWithConnectionString> WithServerHealthCheck<T>(
        this IResourceBuilder<T> resource, Func<string, IHealthCheck> create)
        where T : IResourceWithConnectionString
    {
        var key = $"{resource.Resource.Name}_server";
        var check = new DeferredHealthCheck(resource.Resource, create);
        resource.ApplicationBuilder.Services.AddHealthChecks().Add(new HealthCheckRegistration(key, check, failureStatus: null, tags: null));
        return (IResourceBuilder<IResourceWithConnectionString>)resource.WithHealthCheck(key);
    }

    private sealed class DeferredHealthCheck(IResourceWithConnectionString resource, Func<string, IHealthCheck> create) : IHealthCheck
    {
        private IHealthCheck? _inner;

        public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
        {
            if (_inner is null)
            {
                var connectionString = await resource.ConnectionStringExpression.GetValueAsync(cancellationToken);
                if (string.IsNullOrEmpty(connectionString))
                {
                    return HealthCheckResult.Unhealthy($"{resource.Name}: no connection string yet");
                }
                _inner = create(connectionString);
            }
            return await _inner.CheckHealthAsync(context, cancellationToken);
        }
    }
}
