using StackExchange.Redis;

namespace AgentBus.Telemetry;

/// <summary>
/// Which one process of a deployment reports the database-wide gauge agent_bus_jobs_active: every
/// consumer could count it, but then the spec's bare query would return one copy per replica. The
/// holder renews a Redis lease at each refresh; when it stops (or dies), another takes over once
/// the lease lapses, and a stopping holder hands it over at once.
/// </summary>
public sealed class GaugeReporterLease(IConnectionMultiplexer redis)
{
    public static readonly RedisKey Key = "agentbus:gauge-reporter";

    private static readonly LuaScript HoldScript = LuaScript.Prepare("""
        local holder = redis.call('GET', @key)
        if holder and holder ~= @me then return 0 end
        redis.call('SET', @key, @me, 'PX', @ttl)
        return 1
        """);

    private static readonly LuaScript ReleaseScript = LuaScript.Prepare("""
        if redis.call('GET', @key) == @me then redis.call('DEL', @key) end
        return 0
        """);

    /// <summary>Takes or renews the lease for <paramref name="ttl"/>; false while another process holds it.</summary>
    public async Task<bool> TryHoldAsync(string me, TimeSpan ttl) =>
        (int)await redis.GetDatabase().ScriptEvaluateAsync(HoldScript, new { key = Key, me, ttl = (long)ttl.TotalMilliseconds }) == 1;

    /// <summary>Gives the lease up if <paramref name="me"/> holds it.</summary>
    public Task ReleaseAsync(string me) => redis.GetDatabase().ScriptEvaluateAsync(ReleaseScript, new { key = Key, me });
}
