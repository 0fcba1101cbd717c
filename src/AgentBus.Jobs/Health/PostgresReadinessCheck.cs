using Microsoft.Extensions.Diagnostics.HealthChecks;
using AgentBus.Data;
using Npgsql;

namespace AgentBus.Health;

/// <summary>Readiness: Postgres answers, with a schema at least as new as this build needs (the 503
/// body names it when not: the migrations have not run).</summary>
internal sealed class PostgresReadinessCheck(NpgsqlDataSource dataSource) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            return await SchemaVersion.ProblemAsync(dataSource, cancellationToken) is { } problem
                ? HealthCheckResult.Unhealthy($"postgres: {problem}")
                : HealthCheckResult.Healthy();
        }
        catch (Exception e) when (e is NpgsqlException or OperationCanceledException or TimeoutException)
        {
            // The type names the failure; the message (hosts, ports) goes to the logs with the exception.
            return HealthCheckResult.Unhealthy($"postgres: {e.GetType().Name}", e);
        }
    }
}
