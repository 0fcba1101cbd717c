using System.Text.Json;
using StackExchange.Redis;

namespace AgentBus.Gpu;

/// <summary>
/// The GPU nodes in Redis. Each gpu-agent writes its heartbeat to agentbus:gpu:nodes:{node} with
/// a TTL, so a node whose agent stops or crashes disappears by itself. Two sorted sets score
/// nodes by when their heartbeat expires: agentbus:gpu:nodes (every node, for listings) and
/// agentbus:gpu:live (nodes with at least one GPU, which take GPU work), so "is any GPU node
/// alive" and "since when has none been" are single look-ups on the enqueue path.
/// GPU slots held by running tasks are lease keys (<see cref="GpuLeases"/>).
/// </summary>
public sealed class GpuNodeRegistry(IConnectionMultiplexer redis, GpuLeases leases)
{
    public static readonly RedisKey NodesKey = "agentbus:gpu:nodes";
    public static readonly RedisKey LiveKey = "agentbus:gpu:live";
    public static RedisKey NodeKey(string node) => $"agentbus:gpu:nodes:{node}";

    // Index entries of nodes dead this long are pruned; until then they tell when GPUs were last seen.
    private static readonly TimeSpan History = TimeSpan.FromDays(1);

    internal static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    // Removes a node only if the heartbeat is still this agent's (a replacement may have taken over),
    // and marks it dead as of now rather than forgetting it, so the fallback timer starts now.
    private static readonly LuaScript RemoveScript = LuaScript.Prepare("""
        local current = redis.call('GET', @node)
        if current and cjson.decode(current)['agent'] == @agent then
          redis.call('DEL', @node)
          redis.call('ZADD', @nodes, 'XX', @now, @name)
          redis.call('ZADD', @live, 'XX', @now, @name)
          return 1
        end
        return 0
        """);

    private IDatabase Db => redis.GetDatabase();

    public async Task PublishAsync(GpuNodeHeartbeat heartbeat, TimeSpan ttl)
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var expires = now + (long)ttl.TotalMilliseconds;
        var tx = Db.CreateTransaction();
        _ = tx.StringSetAsync(NodeKey(heartbeat.Node), JsonSerializer.Serialize(heartbeat, Json), ttl);
        _ = tx.SortedSetAddAsync(NodesKey, heartbeat.Node, expires);
        _ = heartbeat.Gpus.Count > 0 ? tx.SortedSetAddAsync(LiveKey, heartbeat.Node, expires) : tx.SortedSetRemoveAsync(LiveKey, heartbeat.Node);
        _ = tx.SortedSetRemoveRangeByScoreAsync(NodesKey, double.NegativeInfinity, now - History.TotalMilliseconds);
        _ = tx.SortedSetRemoveRangeByScoreAsync(LiveKey, double.NegativeInfinity, now - History.TotalMilliseconds);
        await tx.ExecuteAsync();
    }

    public async Task RemoveAsync(string node, string agent) =>
        await Db.ScriptEvaluateAsync(RemoveScript, new
        {
            node = NodeKey(node), nodes = NodesKey, live = LiveKey, name = node, agent, now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(),
        });

    /// <summary>True while some node with a GPU has an unexpired heartbeat.</summary>
    public async Task<bool> AnyGpuNodeAliveAsync() =>
        await Db.SortedSetLengthAsync(LiveKey, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), double.PositiveInfinity, Exclude.Start) > 0;

    /// <summary>When the most recent heartbeat of a node with GPUs expires (or expired); null if none in the last day.</summary>
    public async Task<DateTimeOffset?> GpuNodesAliveUntilAsync()
    {
        var last = await Db.SortedSetRangeByRankWithScoresAsync(LiveKey, 0, 0, Order.Descending);
        return last.Length == 0 ? null : DateTimeOffset.FromUnixTimeMilliseconds((long)last[0].Score);
    }

    /// <summary>Every node with a live heartbeat, its GPUs, their free slots and the tasks holding the others.</summary>
    public async Task<IReadOnlyList<GpuNodeStatus>> ListAsync()
    {
        var names = await Db.SortedSetRangeByScoreAsync(NodesKey, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), double.PositiveInfinity, Exclude.Start);
        if (names.Length == 0)
        {
            return [];
        }
        var values = await Db.StringGetAsync(names.Select(n => NodeKey((string)n!)).ToArray());
        var heartbeats = values.Where(v => v.HasValue).Select(v => JsonSerializer.Deserialize<GpuNodeHeartbeat>((string)v!, Json)!).ToList();
        var slots = heartbeats.SelectMany(h => h.Gpus.SelectMany(g => Enumerable.Range(0, h.TasksPerGpu).Select(s => (g.Uuid, Slot: s)))).ToList();
        var held = (await leases.ReadAsync(slots)).ToLookup(l => l.Uuid);

        return heartbeats.OrderBy(h => h.Node, StringComparer.Ordinal).Select(h =>
        {
            var gpus = h.Gpus.Select(g =>
            {
                var running = held[g.Uuid].OrderBy(l => l.Slot).ToList();
                return new GpuStatus(g.Index, g.Uuid, g.Name, g.UtilizationRatio, g.MemoryUsedBytes, g.MemoryTotalBytes, g.MemoryFreeBytes,
                    g.TemperatureCelsius, g.PowerWatts, h.InferenceEndpoints.GetValueOrDefault(g.Index), h.TasksPerGpu,
                    Math.Max(0, h.TasksPerGpu - running.Count), running);
            }).ToList();
            return new GpuNodeStatus(h.Node, h.Agent, h.Source, h.SourceError, h.HeartbeatAt, gpus.Count, h.TasksPerGpu,
                gpus.Sum(g => g.FreeSlots), gpus.SelectMany(g => g.RunningTasks.Select(t => t.TaskId)).ToList(), gpus);
        }).ToList();
    }
}
