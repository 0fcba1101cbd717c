using System.Diagnostics;
using Hangfire;
using Hangfire.PostgreSql;
using Hangfire.PostgreSql.Factories;
using Hangfire.Redis.StackExchange;

namespace AgentBus.Bench;

/// <summary>
/// The peers a .NET user would pick: Hangfire with PostgreSQL storage (state committed in Postgres,
/// as Agent Bus commits its own) and with Redis storage (the faster, more common choice), the same
/// no-op job, as many workers as the dispatch benchmark runs stages. Jobs are enqueued first; the
/// clock runs from the server's start until every one has succeeded.
/// </summary>
public static class HangfireBench
{
    public static async Task<IReadOnlyList<Measurement>> RunAsync(BenchArgs args, RunSchedule schedule)
    {
        var storageName = args.Text("storage", "postgres");
        var (storage, package, prefix) = storageName switch
        {
            "postgres" => (PostgresStorage(), "Hangfire.PostgreSql", "hangfire"),
            "redis" => (RedisStorage(), "Hangfire.Redis.StackExchange", "hangfire_redis"),
            _ => throw new ArgumentException($"--storage {storageName}: postgres or redis"),
        };
        // Hangfire's client is synchronous: the enqueueing threads block on Redis replies that
        // complete on the thread pool, which grows by about one thread a second past its minimum
        // (the core count); without room the enqueue stalls into timeouts.
        ThreadPool.GetMinThreads(out var workers, out var io);
        ThreadPool.SetMinThreads(Math.Max(workers, 2 * args.Concurrency), io);
        var client = new BackgroundJobClient(storage);
        var monitoring = storage.GetMonitoringApi();
        // Redis storage keeps only the last 499 succeeded jobs in its list; its counter counts them all.
        Func<long> succeeded = storageName == "redis" ? () => monitoring.GetStatistics().Succeeded : monitoring.SucceededListCount;
        var enqueue = new List<double>();
        var dispatch = new List<double>();

        while (schedule.Next())
        {
            var before = succeeded();
            var clock = Stopwatch.StartNew();
            var next = -1;
            await Task.WhenAll(Enumerable.Range(0, args.Concurrency).Select(_ => Task.Run(() =>
            {
                while (Interlocked.Increment(ref next) < args.Tasks)
                {
                    client.Enqueue(() => NoOpJob.Run());
                }
            })));
            enqueue.Add(args.Tasks / clock.Elapsed.TotalSeconds);

            clock.Restart();
            using (new BackgroundJobServer(new BackgroundJobServerOptions { WorkerCount = args.Concurrency, ServerName = $"bench-{schedule.Run}" }, storage))
            {
                await BenchResults.WaitUntilAsync(() => Task.FromResult(succeeded() - before >= args.Tasks), TimeSpan.FromMinutes(5), "hangfire jobs");
                dispatch.Add(args.Tasks / clock.Elapsed.TotalSeconds);
            }
        }
        var details = new Dictionary<string, object> { ["tasks"] = args.Tasks, ["workers"] = args.Concurrency, ["storage"] = package };
        return [new($"{prefix}_dispatch", "tasks/s", dispatch, details), new($"{prefix}_enqueue", "tasks/s", enqueue, details)];
    }

    private static JobStorage PostgresStorage()
    {
        var options = new PostgreSqlStorageOptions
        {
            SchemaName = "hangfire_bench",
            PrepareSchemaIfNecessary = true,
            // Its default (15 s) only matters when the queue runs dry; keep it from hiding the tail.
            QueuePollInterval = TimeSpan.FromMilliseconds(50),
        };
        return new PostgreSqlStorage(new NpgsqlConnectionFactory(BenchArgs.Require("ConnectionStrings__agentbus"), options), options);
    }

    // Its fetchers wait on a pub/sub notification, so an empty queue costs no polling delay.
    private static JobStorage RedisStorage() =>
        new RedisStorage(BenchArgs.Require("ConnectionStrings__redis"), new RedisStorageOptions { Prefix = "hangfire-bench:" });
}

public static class NoOpJob
{
    public static void Run()
    {
    }
}
