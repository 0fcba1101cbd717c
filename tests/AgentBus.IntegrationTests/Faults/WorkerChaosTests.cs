using System.Diagnostics;

namespace AgentBus.IntegrationTests.Faults;

/// <summary>
/// 20 jobs while workers are SIGKILLed at random moments (seeded; set FAULTS_SEED to replay a
/// run) and started again: every job completes, no stage commits twice, nothing is left pending,
/// and the spend recorded is what the model server itself answered: each call recorded once, the
/// only calls missing being those answered to a worker killed before it could record them.
/// </summary>
[Collection(FaultsCollection.Name)]
public sealed class WorkerChaosTests(FaultsFixture fixture)
{
    private const int Jobs = 20;

    [Fact]
    public async Task Twenty_jobs_survive_workers_killed_at_random_moments()
    {
        var seed = int.TryParse(Environment.GetEnvironmentVariable("FAULTS_SEED"), out var s) ? s : Random.Shared.Next();
        var random = new Random(seed);
        var plannedKills = random.Next(5, 9);
        FaultsFixture.Say($"chaos seed {seed}: {plannedKills} kills planned");

        using var api = fixture.Api();
        var servedBefore = fixture.ModelServer.Served.Count;
        var clock = Stopwatch.StartNew();
        var jobs = await fixture.SubmitAsync(api, Jobs, "Chaos");
        using var stop = new CancellationTokenSource();
        var restarts = new List<Task>();
        var kills = new List<string>();

        var killer = Task.Run(async () =>
        {
            while (kills.Count < plannedKills && !stop.IsCancellationRequested)
            {
                // Only while both run (the last victim restarted), so work always goes on somewhere.
                await Task.WhenAll(restarts);
                await Task.Delay(TimeSpan.FromMilliseconds(random.Next(300, 1500)), stop.Token).ContinueWith(_ => { }, TaskScheduler.Default);
                if (stop.IsCancellationRequested)
                {
                    break;
                }
                var victim = FaultsFixture.Workers[random.Next(FaultsFixture.Workers.Length)];
                using (var process = Process.GetProcessById(await fixture.PidOf(victim)))
                {
                    process.Kill();   // SIGKILL: no shutdown hook, its tasks stay un-acknowledged
                    await process.WaitForExitAsync();
                }
                kills.Add($"{victim}@{clock.Elapsed.TotalSeconds:F1}s");
                restarts.Add(fixture.RestartAsync(victim));
            }
        });

        TimeSpan took;
        try
        {
            took = await fixture.ApproveAndCompleteAsync(jobs, TimeSpan.FromMinutes(4));
        }
        finally
        {
            await stop.CancelAsync();
            await killer;
            await Task.WhenAll(restarts);
        }

        var reruns = await fixture.AssertNothingLostAsync(jobs);
        var served = fixture.ModelServer.Served.Skip(servedBefore).ToList();
        await using var db = new Npgsql.NpgsqlConnection(await fixture.PostgresConnectionStringAsync());
        var (calls, input, output) = await Dapper.SqlMapper.QuerySingleAsync<(long, long, long)>(db,
            // OpenAI counts cached prompt tokens within prompt_tokens; the record keeps them apart.
            "SELECT count(*), coalesce(sum(input_tokens + cache_read_tokens), 0), coalesce(sum(output_tokens), 0) FROM llm_calls WHERE job_id = ANY(@jobs)", new { jobs });
        var (servedInput, servedOutput) = (served.Sum(a => (long)a.InputTokens), served.Sum(a => (long)a.OutputTokens));
        FaultsFixture.Say($"chaos spend: {calls} calls recorded ({input} in, {output} out); the model server answered {served.Count} ({servedInput} in, {servedOutput} out)");
        Assert.True(calls <= served.Count && input <= servedInput && output <= servedOutput,
            $"recorded {calls} calls ({input}/{output} tokens), more than the {served.Count} ({servedInput}/{servedOutput}) the model server answered: spend counted twice");
        Assert.True(served.Count - calls <= kills.Count * FaultsFixture.Concurrency,
            $"the model server answered {served.Count} calls, {served.Count - calls} more than recorded; {kills.Count} kills can strand at most {kills.Count * FaultsFixture.Concurrency}");
        FaultsFixture.Say($"chaos: {Jobs} jobs completed in {took.TotalSeconds:F1} s; {kills.Count} workers SIGKILLed ({string.Join(", ", kills)}); {reruns} stage runs re-run after reclaim");
        // The kills must have landed on work: a run with no re-run proves nothing.
        Assert.True(kills.Count >= 3, $"only {kills.Count} kills happened before the jobs finished");
        Assert.True(reruns >= 1, "no stage was ever re-run: the kills hit no work");
    }
}
