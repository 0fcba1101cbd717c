using Microsoft.Extensions.Diagnostics.HealthChecks;
using Npgsql;

namespace AgentBus.Health;

/// <summary>Readiness: Postgres answers a query (the 503 body names it when it does not).</summary>
internal sealed class PostgresReadinessCheck(NpgsqlDataSource dataSource) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            await using var command = dataSource.CreateCommand("SELECT 1");
            await command.ExecuteScalarAsync(cancellationToken);
            return HealthCheckResult.Healthy();
        }
        catch (Exception e) when (e is NpgsqlException or OperationCanceledException or TimeoutException)
        {
            // The type names the failure; the message (hosts, ports) goes to the logs with the exception.
            return HealthCheckResult.Unhealthy($"postgres: {e.GetType().Name}", e);
        }
    }
}
