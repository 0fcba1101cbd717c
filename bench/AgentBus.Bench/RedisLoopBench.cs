using System.Diagnostics;
using StackExchange.Redis;

namespace AgentBus.Bench;

/// <summary>
/// The ceiling of the queue: bare XADD, then XREADGROUP and XACK on the same Redis with as many
/// concurrent consumers as the dispatch benchmark runs stages, and no state anywhere else.
/// </summary>
public static class RedisLoopBench
{
    private const string Group = "bench";

    public static async Task<IReadOnlyList<Measurement>> RunAsync(BenchArgs args, RunSchedule schedule)
    {
        await using var redis = await ConnectionMultiplexer.ConnectAsync(BenchArgs.Require("ConnectionStrings__redis"));
        var db = redis.GetDatabase();
        var fields = new NameValueEntry[]
        {
            new("task_id", Guid.NewGuid().ToString()), new("job_id", Guid.NewGuid().ToString()),
            new("project_id", Guid.NewGuid().ToString()), new("stage", "prd"), new("traceparent", ""),
        };
        var add = new List<double>();
        var loop = new List<double>();
        while (schedule.Next())
        {
            RedisKey key = $"bench:raw:{Guid.NewGuid():N}";
            await db.StreamCreateConsumerGroupAsync(key, Group, "0-0", createStream: true);

            var clock = Stopwatch.StartNew();
            var next = -1;
            await Task.WhenAll(Enumerable.Range(0, args.Concurrency).Select(async _ =>
            {
                while (Interlocked.Increment(ref next) < args.Tasks)
                {
                    await db.StreamAddAsync(key, fields);
                }
            }));
            add.Add(args.Tasks / clock.Elapsed.TotalSeconds);

            clock.Restart();
            var acked = 0;
            await Task.WhenAll(Enumerable.Range(0, args.Concurrency).Select(async c =>
            {
                while (Volatile.Read(ref acked) < args.Tasks)
                {
                    var entries = await db.StreamReadGroupAsync(key, Group, $"c{c}", ">", 1);
                    if (entries.Length == 0)
                    {
                        await Task.Yield();
                        continue;
                    }
                    await db.StreamAcknowledgeAsync(key, Group, entries[0].Id);
                    Interlocked.Increment(ref acked);
                }
            }));
            loop.Add(args.Tasks / clock.Elapsed.TotalSeconds);
            await db.KeyDeleteAsync(key);
        }
        var details = new Dictionary<string, object> { ["tasks"] = args.Tasks, ["concurrency"] = args.Concurrency };
        return [new("redis_xreadgroup_xack", "tasks/s", loop, details), new("redis_xadd", "tasks/s", add, details)];
    }
}
