using System.Text.Json;
using StackExchange.Redis;

namespace AgentBus.Gpu;

/// <summary>
/// GPU slots as Redis keys agentbus:gpu:lease:{uuid}:{slot} that expire: a task holds one while it
/// runs and renews it; if its agent crashes the slot frees itself when the TTL lapses. Renewal and
/// release only touch a key that still holds this very lease, so a lapsed lease taken over by
/// another task is never renewed or deleted by the old holder.
/// </summary>
public sealed class GpuLeases(IConnectionMultiplexer redis)
{
    public static RedisKey LeaseKey(string uuid, int slot) => $"agentbus:gpu:lease:{uuid}:{slot}";

    private static readonly LuaScript RenewScript = LuaScript.Prepare("""
        if redis.call('GET', @key) == @value then return redis.call('PEXPIRE', @key, @ttl) end
        return 0
        """);

    private static readonly LuaScript ReleaseScript = LuaScript.Prepare("""
        if redis.call('GET', @key) == @value then return redis.call('DEL', @key) end
        return 0
        """);

    private IDatabase Db => redis.GetDatabase();

    /// <summary>A lease as stored: the exact value is the proof of ownership.</summary>
    public sealed record Held(GpuTaskLease Lease, string Value)
    {
        public RedisKey Key => LeaseKey(Lease.Uuid, Lease.Slot);
    }

    /// <summary>Takes the slot named in <paramref name="lease"/> if it is free.</summary>
    public async Task<Held?> TryAcquireAsync(GpuTaskLease lease, TimeSpan ttl)
    {
        var held = new Held(lease, JsonSerializer.Serialize(lease, GpuNodeRegistry.Json));
        return await Db.StringSetAsync(held.Key, held.Value, ttl, When.NotExists) ? held : null;
    }

    /// <summary>Extends the lease; false when it was lost (expired, possibly taken by another task).</summary>
    public async Task<bool> RenewAsync(Held held, TimeSpan ttl) =>
        (long)await Db.ScriptEvaluateAsync(RenewScript, new { key = held.Key, value = held.Value, ttl = (long)ttl.TotalMilliseconds }) == 1;

    public async Task ReleaseAsync(Held held) =>
        await Db.ScriptEvaluateAsync(ReleaseScript, new { key = held.Key, value = held.Value });

    /// <summary>The leases now held on the given slots.</summary>
    public async Task<IReadOnlyList<GpuTaskLease>> ReadAsync(IReadOnlyCollection<(string Uuid, int Slot)> slots)
    {
        if (slots.Count == 0)
        {
            return [];
        }
        var values = await Db.StringGetAsync(slots.Select(s => LeaseKey(s.Uuid, s.Slot)).ToArray());
        return values.Where(v => v.HasValue).Select(v => JsonSerializer.Deserialize<GpuTaskLease>((string)v!, GpuNodeRegistry.Json)!).ToList();
    }
}
