using Microsoft.Extensions.Diagnostics.HealthChecks;
using StackExchange.Redis;

namespace AgentBus.Web.Health;

/// <summary>
/// Readiness: Redis (the cookie keys' store) answers PING; the 503 body names it. The job
/// services have their own in AgentBus.Jobs, which this app does not reference (it needs no Postgres).
/// </summary>
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
            // The type names the failure; the message (hosts, ports) goes to the logs with the exception.
            return HealthCheckResult.Unhealthy($"redis: {e.GetType().Name}", e);
        }
    }
}
