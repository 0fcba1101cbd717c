using System.Diagnostics;
using AgentBus.Agents;
using AgentBus.Consumer;
using AgentBus.Jobs;
using AgentBus.Queue;
using AgentBus.Store;
using Npgsql;
using StackExchange.Redis;

namespace AgentBus.Bench;

/// <summary>
/// Agent Bus's own dispatch path with a stage that does nothing: the real TaskConsumer claims
/// each task from Redis, the StageLedger marks the stage running and commits its result and the job's
/// next state in Postgres, then the entry is acknowledged. Jobs are created first (each queues its
/// prd task through the outbox); the clock runs from the consumer's start until the last entry is
/// acknowledged, and every one of those stages is then checked to be committed as completed.
/// </summary>
public static class DispatchBench
{
    public static async Task<IReadOnlyList<Measurement>> RunAsync(BenchArgs args, RunSchedule schedule)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddJsonFile(Path.Combine(AppContext.BaseDirectory, "worker.appsettings.json"));
        builder.Configuration[$"{ConsumerOptions.Section}:Concurrency"] = args.Concurrency.ToString(System.Globalization.CultureInfo.InvariantCulture);
        // The service's log lines, all of them, go to stderr: stdout carries the result.
        builder.Configuration["Logging:Console:LogToStandardErrorThreshold"] = "Trace";
        builder.AddServiceDefaults("worker");
        builder.AddAgentBusJobs("worker");
        builder.Services.AddOptions<ConsumerOptions>().BindConfiguration(ConsumerOptions.Section);
        using var host = builder.Build();
        await host.StartAsync();

        var services = host.Services;
        var commands = services.GetRequiredService<JobCommands>();
        var redis = services.GetRequiredService<IConnectionMultiplexer>().GetDatabase();
        var dataSource = services.GetRequiredService<NpgsqlDataSource>();
        var stream = TaskQueue.StreamKey(TaskQueue.Cpu);
        var dispatch = new List<double>();
        var create = new List<double>();

        while (schedule.Next())
        {
            await BenchResults.WaitUntilAsync(async () => await redis.StreamLengthAsync(stream) == 0, TimeSpan.FromSeconds(30), "queue empty before the run");
            var created = Stopwatch.StartNew();
            var jobs = await CreateJobsAsync(commands, args.Tasks, args.Concurrency);
            create.Add(args.Tasks / created.Elapsed.TotalSeconds);
            await BenchResults.WaitUntilAsync(async () => await redis.StreamLengthAsync(stream) >= args.Tasks, TimeSpan.FromSeconds(60), "outbox hand-off");

            var consumer = ActivatorUtilities.CreateInstance<TaskConsumer>(services, (IStageRunner)new NoOpStageRunner());
            var clock = Stopwatch.StartNew();
            await consumer.StartAsync(CancellationToken.None);
            await BenchResults.WaitUntilAsync(async () => await redis.StreamLengthAsync(stream) == 0, TimeSpan.FromMinutes(5), "dispatch");
            var seconds = clock.Elapsed.TotalSeconds;
            await consumer.StopAsync(CancellationToken.None);
            consumer.Dispose();

            await using var check = dataSource.CreateCommand(
                "SELECT count(*) FROM stage_runs WHERE job_id = ANY($1) AND stage = 'prd' AND status = 'completed'");
            check.Parameters.Add(new NpgsqlParameter { Value = jobs });
            var completed = (long)(await check.ExecuteScalarAsync())!;
            if (completed != args.Tasks)
            {
                throw new InvalidOperationException($"only {completed} of {args.Tasks} stages were committed as completed");
            }
            dispatch.Add(args.Tasks / seconds);
        }
        await host.StopAsync();
        var details = new Dictionary<string, object> { ["tasks"] = args.Tasks, ["concurrency"] = args.Concurrency };
        return [new("agentbus_dispatch", "tasks/s", dispatch, details), new("agentbus_job_create_inprocess", "jobs/s", create, details)];
    }

    private static async Task<Guid[]> CreateJobsAsync(JobCommands commands, int count, int parallel)
    {
        var ids = new Guid[count];
        var next = -1;
        await Task.WhenAll(Enumerable.Range(0, parallel).Select(async worker =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < count)
            {
                ids[i] = (await commands.CreateAsync($"bench {i}", "A small internal tool that lists invoices.", "{}", null, false, idempotency: null, CancellationToken.None)).JobId;
            }
        }));
        return ids;
    }

    /// <summary>The stage that does nothing: returns its artifact at once.</summary>
    private sealed class NoOpStageRunner : IStageRunner
    {
        public Task<StageOutput> RunAsync(StageWork work, Guid taskId, CancellationToken ct) => Task.FromResult(new StageOutput("no-op", []));
    }
}
