using System.Diagnostics;
using System.Net;
using Npgsql;
using StackExchange.Redis;

namespace AgentBus.IntegrationTests.Fixtures;

/// <summary>
/// Two workers with short clocks, so faults resolve in seconds: a 4 s lease (a killed worker's
/// task is reclaimed after 4 s), a 3.9 s shutdown grace, fast retries, a reconciler sweeping every
/// second for stages queued or running for 3 s with no task in Redis, two stages at once per
/// worker (so 20 jobs take long enough for several kills). The agents call a
/// <see cref="FakeModelServer"/> over the OpenAI wire, slow enough (300 ms, development 2.5 s) that a
/// fault lands mid-stage, and counting every call it answers, so spend can be checked against it.
/// </summary>
public sealed class FaultsFixture : ModelServerAppFixture
{
    public static readonly string[] Workers = ["worker", "worker-2"];
    public static readonly TimeSpan Lease = TimeSpan.FromSeconds(4);
    public static readonly TimeSpan ShutdownGrace = TimeSpan.FromSeconds(3.9);
    public static readonly TimeSpan DevelopmentLatency = TimeSpan.FromSeconds(2.5);
    public const int Concurrency = 2;
    private const string ModelApiKey = "sk-agentbus-faults-0c1d2e3f4a5b6c7d";

    protected override IEnumerable<string> ExtraResources => ["worker-2"];

    protected override AgentBus.Llm.OfflineOptions ModelWriter => new()
    {
        Latency = TimeSpan.FromMilliseconds(300),
        LatencyByAgent = { ["developer_agent"] = DevelopmentLatency },
    };

    protected override void Configure(IDistributedApplicationTestingBuilder builder)
    {
        foreach (var w in new[] { builder.Project("worker"), AddSecondWorker(builder) })
        {
            w.WithEnvironment("AgentBus__Queue__Lease", Lease.ToString())
             .WithEnvironment("AgentBus__Queue__RetryBaseDelay", "00:00:00.200")
             .WithEnvironment("AgentBus__Queue__RetryMaxDelay", "00:00:02")
             .WithEnvironment("AgentBus__Worker__Concurrency", Concurrency.ToString(System.Globalization.CultureInfo.InvariantCulture))
             .WithEnvironment("AgentBus__Worker__ShutdownGrace", ShutdownGrace.ToString())
             .WithEnvironment("AgentBus__Reconciler__Interval", "00:00:01")
             .WithEnvironment("AgentBus__Reconciler__StaleAfter", "00:00:03")
             .WithEnvironment("AgentBus__Llm__Provider", "openai")
             .WithEnvironment("AgentBus__Llm__Model", "gpt-4o-mini")
             .WithEnvironment("AgentBus__Llm__OpenAI__BaseUrl", () => new Uri(ModelServer.BaseUrl, "v1").ToString())
             .WithEnvironment("AgentBus__Llm__OpenAI__ApiKey", ModelApiKey);
        }
        // Webhooks retry within seconds for ten minutes, so a restart lands mid-retry (WebhookRestartTests).
        foreach (var service in new[] { "api", "worker", "worker-2" })
        {
            WebhookSettings.Apply(builder.Project(service), retryFor: TimeSpan.FromMinutes(10))
                .WithEnvironment("AgentBus__Webhooks__AllowPrivateNetworks", "true");
        }
    }

    /// <summary>Where the fault tests' figures (seed, jobs, kills, re-runs, timings) are appended, since passing tests' output is not shown.</summary>
    public static readonly string FiguresFile = Path.Combine(Path.GetTempPath(), "agentbus-fault-figures.log");

    public static void Say(string message)
    {
        TestContext.Current.SendDiagnosticMessage(message);
        File.AppendAllText(FiguresFile, $"{DateTime.UtcNow:O} {message}{Environment.NewLine}");
    }

    /// <summary>The pid in a consumer name (host:pid:random) and the worker resource that runs it.</summary>
    public async Task<(int Pid, string Resource)> WorkerOf(string consumer)
    {
        var pid = int.Parse(consumer.Split(':')[1], System.Globalization.CultureInfo.InvariantCulture);
        foreach (var worker in Workers)
        {
            if (await PidOf(worker) == pid)
            {
                return (pid, worker);
            }
        }
        throw new InvalidOperationException($"{consumer} is no worker of this fixture");
    }

    public Task StopAsync(string resource) =>
        App.ResourceCommands.ExecuteCommandAsync(resource, KnownResourceCommands.StopCommand, TestContext.Current.CancellationToken);

    public Task StartAsync(string resource) =>
        App.ResourceCommands.ExecuteCommandAsync(resource, KnownResourceCommands.StartCommand, TestContext.Current.CancellationToken);

    public async Task<HttpStatusCode> ReadinessAsync(string service)
    {
        using var client = CreateClient(service);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            using var response = await client.GetAsync("/health/ready", timeout.Token);
            return response.StatusCode;
        }
        catch (Exception e) when (e is HttpRequestException or OperationCanceledException)
        {
            return 0;
        }
    }

    /// <summary>Submits <paramref name="count"/> projects at once.</summary>
    public async Task<Guid[]> SubmitAsync(AgentBusClient api, int count, string name) =>
        (await Task.WhenAll(Enumerable.Range(1, count).Select(i => api.CreateProjectAsync($"{name} {i}")))).Select(ids => ids.JobId).ToArray();

    /// <summary>
    /// Approves each job when it asks and waits until every one completes; returns how long that took.
    /// Fails naming the jobs that did not complete (or ended otherwise) within <paramref name="timeout"/>.
    /// </summary>
    public async Task<TimeSpan> ApproveAndCompleteAsync(Guid[] jobs, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        var approved = new HashSet<Guid>();
        var statuses = new Dictionary<Guid, string>();
        while (true)
        {
            await using (var connection = new NpgsqlConnection(await PostgresConnectionStringAsync()))
            {
                try
                {
                    await connection.OpenAsync();
                    await using var command = new NpgsqlCommand("SELECT job_id, status FROM jobs WHERE job_id = ANY($1)", connection);
                    command.Parameters.AddWithValue(jobs);
                    await using var reader = await command.ExecuteReaderAsync();
                    while (await reader.ReadAsync())
                    {
                        statuses[reader.GetGuid(0)] = reader.GetString(1);
                    }
                }
                catch (NpgsqlException)
                {
                    // a test may have Postgres down right now
                }
            }
            foreach (var job in jobs.Where(j => statuses.GetValueOrDefault(j) == "waiting_for_approval" && !approved.Contains(j)))
            {
                using var api = Api();
                try
                {
                    using var response = await api.ActAsync(job, "approve");
                    if (response.StatusCode == HttpStatusCode.OK)
                    {
                        approved.Add(job);
                    }
                }
                catch (HttpRequestException)
                {
                    // retried on the next round
                }
            }
            if (jobs.All(j => statuses.GetValueOrDefault(j) is "completed" or "failed" or "canceled" or "rejected"))
            {
                break;
            }
            if (clock.Elapsed > timeout)
            {
                break;
            }
            await Task.Delay(250);
        }
        var unfinished = jobs.Where(j => statuses.GetValueOrDefault(j) != "completed").Select(j => $"{j}: {statuses.GetValueOrDefault(j, "?")}").ToList();
        Assert.True(unfinished.Count == 0, $"{unfinished.Count} of {jobs.Length} jobs did not complete within {timeout.TotalSeconds} s: {string.Join(", ", unfinished)}");
        return clock.Elapsed;
    }

    /// <summary>
    /// What no fault may leave behind, for these jobs: every stage completed with exactly one
    /// artifact, version 1 (a re-run that committed twice would add v2); no task in the outbox.
    /// For the queues: nothing pending in the consumer group, nothing waiting, nothing dead-lettered.
    /// Returns the stage runs beyond the first per stage (re-runs after a kill or reclaim).
    /// </summary>
    public async Task<int> AssertNothingLostAsync(Guid[] jobs)
    {
        await using var connection = new NpgsqlConnection(await PostgresConnectionStringAsync());
        await connection.OpenAsync();
        var stages = AgentBus.Jobs.Pipeline.Stages.Count;

        await using (var artifacts = new NpgsqlCommand(
            "SELECT job_id, type, count(*), max(version) FROM artifacts WHERE job_id = ANY($1) GROUP BY job_id, type", connection))
        {
            artifacts.Parameters.AddWithValue(jobs);
            var rows = new List<(Guid Job, string Type, long Count, int MaxVersion)>();
            await using var reader = await artifacts.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                rows.Add((reader.GetGuid(0), reader.GetString(1), reader.GetInt64(2), reader.GetInt32(3)));
            }
            Assert.Equal(jobs.Length * stages, rows.Count);
            var doubled = rows.Where(r => r.Count != 1 || r.MaxVersion != 1).ToList();
            Assert.True(doubled.Count == 0, "artifacts with more than one version: " + string.Join(", ", doubled));
        }

        int reruns;
        await using (var runs = new NpgsqlCommand(
            "SELECT count(*) FILTER (WHERE status <> 'completed' OR attempts < 1), coalesce(sum(attempts), 0) - count(*) FROM stage_runs WHERE job_id = ANY($1)", connection))
        {
            runs.Parameters.AddWithValue(jobs);
            await using var reader = await runs.ExecuteReaderAsync();
            await reader.ReadAsync();
            Assert.Equal(0, reader.GetInt64(0));
            reruns = (int)reader.GetInt64(1);
        }

        await using (var outbox = new NpgsqlCommand("SELECT count(*) FROM task_outbox WHERE job_id = ANY($1)", connection))
        {
            outbox.Parameters.AddWithValue(jobs);
            Assert.Equal(0L, (long)(await outbox.ExecuteScalarAsync())!);
        }

        await using var redis = await ConnectionMultiplexer.ConnectAsync(await ConnectionStringAsync("redis"));
        var db = redis.GetDatabase();
        foreach (var queue in new[] { "cpu", "gpu" })
        {
            // Acks follow commits by a moment: wait for the group to drain rather than sample it.
            await EventuallyAsync(async () => (await db.KeyExistsAsync($"agentbus:queue:{queue}")
                    ? (await db.StreamPendingAsync($"agentbus:queue:{queue}", "agentbus-workers")).PendingMessageCount : 0)
                    + await db.StreamLengthAsync($"agentbus:queue:{queue}") + await db.SortedSetLengthAsync($"agentbus:queue:{queue}:delayed"),
                n => n == 0, TimeSpan.FromSeconds(15), $"the {queue} queue draining (XPENDING + XLEN + delayed)");
            Assert.Equal(0, await db.StreamLengthAsync($"agentbus:queue:{queue}:dead"));
        }
        return reruns;
    }

    /// <summary>A counter summed over both workers (each restart resets a worker's own).</summary>
    public async Task<double> WorkerCounterAsync(string metric, Func<IReadOnlyDictionary<string, string>, bool>? where = null)
    {
        double total = 0;
        foreach (var worker in Workers)
        {
            using var client = CreateClient(worker);
            total += PrometheusText.Parse(await client.GetStringAsync("/metrics")).Sum(metric, where ?? (_ => true));
        }
        return total;
    }
}
