using AgentBus.Bench;

// One subcommand per measurement; each prints one JSON object on stdout (bench/run.sh collects
// them). Connection strings come from ConnectionStrings__agentbus and ConnectionStrings__redis,
// as the services get them.
var options = BenchArgs.Parse(args);
var schedule = new RunSchedule(options);
switch (options.Command)
{
    case "dispatch":
        await BenchResults.PrintAsync(await DispatchBench.RunAsync(options, schedule), schedule);
        break;
    case "redis":
        await BenchResults.PrintAsync(await RedisLoopBench.RunAsync(options, schedule), schedule);
        break;
    case "hangfire":
        await BenchResults.PrintAsync(await HangfireBench.RunAsync(options, schedule), schedule);
        break;
    case "jobs":
        await BenchResults.PrintAsync(await JobsPerMinuteBench.RunAsync(options, schedule), schedule);
        break;
    case "latency":
        await BenchResults.PrintAsync(await LatencyBench.RunAsync(options, schedule), schedule);
        break;
    case "ceiling":
    case "otlp-sink":
        await CeilingServer.RunAsync(options);
        break;
    default:
        Console.Error.WriteLine("usage: AgentBus.Bench dispatch|redis|hangfire|jobs|latency|ceiling|otlp-sink [--tasks N] [--concurrency C] [--runs R] [--warmup W] [--max-warmup X] [--port P] [--api URL] [--key K] [--jobs M] [--storage postgres|redis] [--label L]");
        return 2;
}
return 0;
