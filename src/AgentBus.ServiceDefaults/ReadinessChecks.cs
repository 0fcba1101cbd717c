using System.Text.Json;
using AgentBus.Telemetry;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Npgsql;
using StackExchange.Redis;

namespace Microsoft.Extensions.Hosting;

/// <summary>Readiness: Postgres and Redis checked for real, the failing one named in the 503 body.</summary>
public static class ReadinessChecks
{
    public const string Tag = "ready";
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(3);

    public static Task WriteResponse(HttpContext context, HealthReport report)
    {
        var ready = report.Status != HealthStatus.Unhealthy;
        context.RequestServices.GetRequiredService<AgentBusMetrics>().Ready = ready;
        var body = new
        {
            status = ready ? "ready" : "not_ready",
            timestamp = DateTimeOffset.UtcNow.ToUnixTimeSeconds(),
            failing = report.Entries.Where(e => e.Value.Status == HealthStatus.Unhealthy).Select(e => e.Key).ToArray(),
            checks = report.Entries.ToDictionary(e => e.Key, e => new
            {
                status = e.Value.Status == HealthStatus.Healthy ? "healthy" : "unhealthy",
                duration_ms = Math.Round(e.Value.Duration.TotalMilliseconds, 1),
                error = e.Value.Status == HealthStatus.Healthy ? null : e.Value.Description ?? e.Value.Exception?.Message,
            }),
        };
        context.Response.ContentType = "application/json";
        return context.Response.WriteAsync(JsonSerializer.Serialize(body));
    }
}

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
            return HealthCheckResult.Unhealthy($"postgres: {e.GetType().Name}: {e.Message}");
        }
    }
}

internal sealed class RedisReadinessCheck(IConnectionMultiplexer redis) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            await redis.GetDatabase().PingAsync().WaitAsync(cancellationToken);
            return HealthCheckResult.Healthy();
        }
        catch (Exception e) when (e is RedisException or OperationCanceledException or TimeoutException)
        {
            return HealthCheckResult.Unhealthy($"redis: {e.GetType().Name}: {e.Message}");
        }
    }
}

/// <summary>Keeps agent_bus_ready current between probes, so alerts see a service that nobody probes.</summary>
internal sealed class ReadinessGaugePublisher(AgentBusMetrics metrics) : IHealthCheckPublisher
{
    public Task PublishAsync(HealthReport report, CancellationToken cancellationToken)
    {
        metrics.Ready = report.Status != HealthStatus.Unhealthy;
        foreach (var (dependency, entry) in report.Entries.Where(e => e.Value.Status == HealthStatus.Unhealthy))
        {
            metrics.RecordError($"{dependency}_unavailable");
        }
        return Task.CompletedTask;
    }
}
