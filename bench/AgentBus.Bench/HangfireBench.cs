using System.Diagnostics;
using Hangfire;
using Hangfire.PostgreSql;
using Hangfire.PostgreSql.Factories;

namespace AgentBus.Bench;

/// <summary>
/// The peer a .NET user would pick: Hangfire with PostgreSQL storage (state committed in Postgres,
/// as Agent Bus commits its own), the same no-op job, as many workers as the dispatch benchmark
/// runs stages. Jobs are enqueued first; the clock runs from the server's start until every one
/// has succeeded.
/// </summary>
public static class HangfireBench
{
    public static async Task<IReadOnlyList<Measurement>> RunAsync(BenchArgs args, RunSchedule schedule)
    {
        var options = new PostgreSqlStorageOptions
        {
            SchemaName = "hangfire_bench",
            PrepareSchemaIfNecessary = true,
            // Its default (15 s) only matters when the queue runs dry; keep it from hiding the tail.
            QueuePollInterval = TimeSpan.FromMilliseconds(50),
        };
        var storage = new PostgreSqlStorage(new NpgsqlConnectionFactory(BenchArgs.Require("ConnectionStrings__agentbus"), options), options);
        var client = new BackgroundJobClient(storage);
        var monitoring = storage.GetMonitoringApi();
        var enqueue = new List<double>();
        var dispatch = new List<double>();

        while (schedule.Next())
        {
            var before = monitoring.SucceededListCount();
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
                await BenchResults.WaitUntilAsync(() => Task.FromResult(monitoring.SucceededListCount() - before >= args.Tasks), TimeSpan.FromMinutes(5), "hangfire jobs");
                dispatch.Add(args.Tasks / clock.Elapsed.TotalSeconds);
            }
        }
        var details = new Dictionary<string, object> { ["tasks"] = args.Tasks, ["workers"] = args.Concurrency, ["storage"] = "Hangfire.PostgreSql" };
        return [new("hangfire_dispatch", "tasks/s", dispatch, details), new("hangfire_enqueue", "tasks/s", enqueue, details)];
    }
}

public static class NoOpJob
{
    public static void Run()
    {
    }
}
