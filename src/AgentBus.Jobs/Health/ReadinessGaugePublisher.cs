using AgentBus.Telemetry;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace AgentBus.Health;

/// <summary>
/// Keeps agent_bus_ready current (the health check publisher runs the checks every few seconds),
/// so alerts see a service that nobody probes; counts each failing dependency as an error.
/// </summary>
internal sealed class ReadinessGaugePublisher(AgentBusMetrics metrics) : IHealthCheckPublisher
{
    public Task PublishAsync(HealthReport report, CancellationToken cancellationToken)
    {
        metrics.Ready = report.Status != HealthStatus.Unhealthy;
        foreach (var (dependency, _) in report.Entries.Where(e => e.Value.Status == HealthStatus.Unhealthy))
        {
            metrics.RecordError($"{dependency}_unavailable");
        }
        return Task.CompletedTask;
    }
}
