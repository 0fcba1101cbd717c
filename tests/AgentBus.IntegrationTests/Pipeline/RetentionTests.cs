using System.Diagnostics.Metrics;
using AgentBus.Data;
using AgentBus.Queue;
using AgentBus.Store;
using AgentBus.Telemetry;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Npgsql;
using StackExchange.Redis;

namespace AgentBus.IntegrationTests.Pipeline;

/// <summary>
/// Retention (issue 20, finding 13): the sweep the worker runs, called here directly against the
/// fixture's Postgres and Redis. Postgres rows are backdated by 60 days against a 30-day policy,
/// so nothing the other tests of the collection wrote qualifies; dead letters are kept 2 s.
/// </summary>
[Collection(AppHostCollection.Name)]
public sealed class RetentionTests(AppHostFixture fixture)
{
    // A batch of 2: the sweep must loop over batches until nothing qualifies.
    private static readonly RetentionPolicy Policy = new(TimeSpan.FromDays(30), TimeSpan.FromDays(30), TimeSpan.FromSeconds(2), TimeSpan.FromDays(30), BatchSize: 2);

    [Fact]
    public async Task The_sweep_deletes_old_events_of_finished_jobs_superseded_versions_and_old_dead_letters_and_nothing_else()
    {
        await using var connection = await OpenAsync();
        await using var seed = await SeedAsync(connection);
        await using var redis = await ConnectionMultiplexer.ConnectAsync(await fixture.ConnectionStringAsync("redis"));
        var dead = TaskQueue.DeadLetterKey(TaskQueue.Cpu);
        var oldLetter = await redis.GetDatabase().StreamAddAsync(dead, DeadLetterFields(seed.ProjectId, seed.Done));
        await Task.Delay(Policy.DeadLetters + TimeSpan.FromMilliseconds(500));
        var freshLetter = await redis.GetDatabase().StreamAddAsync(dead, DeadLetterFields(seed.ProjectId, seed.Done));

        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var meters = services.GetRequiredService<IMeterFactory>();
        using var deleted = new MetricCollector<long>(meters, AgentBusMetrics.MeterName, "agent_bus.retention.deleted");
        using var metrics = new AgentBusMetrics(meters, "worker");
        var swept = await SweepAsync(metrics, redis);

        // Finished 60 days ago: its old events go, the one written today (after it ended) stays.
        Assert.Equal([4], await SeqsAsync(connection, seed.Done));
        // Finished yesterday, or not finished at all: every event stays, however old.
        Assert.Equal([1, 2], await SeqsAsync(connection, seed.DoneLately));
        Assert.Equal([1, 2, 3], await SeqsAsync(connection, seed.Open));
        // The latest version always stays (even 60 days old, and the only one of its type); a
        // superseded version goes once it is old, not before.
        Assert.Equal(["plan:1", "prd:3"], await VersionsAsync(connection, seed.Done));
        Assert.Equal(["architecture:2"], await VersionsAsync(connection, seed.DoneLately));
        Assert.Equal(["prd:1", "prd:2"], await VersionsAsync(connection, seed.Open));
        Assert.Equal((3, 3), (swept.JobEvents, swept.ArtifactVersions));

        var letters = (await redis.GetDatabase().StreamRangeAsync(dead)).Select(e => e.Id).ToList();
        Assert.DoesNotContain(oldLetter, letters);
        Assert.Contains(freshLetter, letters);
        Assert.True(swept.DeadLetters >= 1);
        await redis.GetDatabase().StreamDeleteAsync(dead, [freshLetter]);

        var byKind = deleted.GetMeasurementSnapshot().GroupBy(m => (string)m.Tags["kind"]!).ToDictionary(g => g.Key, g => g.Sum(m => m.Value));
        Assert.Equal(3, byKind["job_events"]);
        Assert.Equal(3, byKind["artifact_versions"]);
        Assert.Equal(swept.DeadLetters, byKind["dead_letters"]);
    }

    [Fact]
    public async Task A_replica_skips_the_sweep_while_another_holds_its_lock()
    {
        await using var connection = await OpenAsync();
        await using var seed = await SeedAsync(connection);
        await using var holder = await OpenAsync();
        await using (var take = new NpgsqlCommand($"SELECT pg_advisory_lock({AdvisoryLocks.Retention})", holder))
        {
            await take.ExecuteNonQueryAsync();
        }
        await using var redis = await ConnectionMultiplexer.ConnectAsync(await fixture.ConnectionStringAsync("redis"));
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        using var metrics = new AgentBusMetrics(services.GetRequiredService<IMeterFactory>(), "worker");

        Assert.Null(await TrySweepAsync(metrics, redis));
        Assert.Equal([1, 2, 3, 4], await SeqsAsync(connection, seed.Done));

        await using (var release = new NpgsqlCommand($"SELECT pg_advisory_unlock({AdvisoryLocks.Retention})", holder))
        {
            await release.ExecuteNonQueryAsync();
        }
        Assert.NotNull(await SweepAsync(metrics, redis));
        Assert.Equal([4], await SeqsAsync(connection, seed.Done));
    }

    [Fact]
    public async Task The_worker_runs_the_sweep_at_start_and_exports_what_it_deleted_by_kind()
    {
        using var worker = fixture.CreateClient("worker");
        var metrics = await AgentBusAppFixture.EventuallyAsync(async () => PrometheusText.Parse(await worker.GetStringAsync("/metrics")),
            m => m.Named("agent_bus_retention_deleted_total").Select(s => s.Labels["kind"]).Distinct().Count() == 4,
            TimeSpan.FromSeconds(30), "the worker's first sweep counted");
        Assert.Equal(["artifact_versions", "dead_letters", "job_events", "webhook_deliveries"],
            metrics.Named("agent_bus_retention_deleted_total").Select(s => s.Labels["kind"]).Distinct().Order());
    }

    [Fact]
    public async Task Redis_refuses_writes_at_its_memory_limit_instead_of_evicting_queues()
    {
        await using var redis = await ConnectionMultiplexer.ConnectAsync(await fixture.ConnectionStringAsync("redis") + ",allowAdmin=true");
        var server = redis.GetServer(redis.GetEndPoints().Single());
        var config = (await server.ConfigGetAsync("maxmemory*")).ToDictionary(p => p.Key, p => p.Value);
        Assert.Equal("noeviction", config["maxmemory-policy"]);
        Assert.Equal(512L * 1024 * 1024, long.Parse(config["maxmemory"], System.Globalization.CultureInfo.InvariantCulture));
    }

    /// <summary>One sweep as a worker would run it; null when the lock is held elsewhere.</summary>
    private async Task<RetentionSwept?> TrySweepAsync(AgentBusMetrics metrics, IConnectionMultiplexer redis)
    {
        await using var dataSource = NpgsqlDataSource.Create(await fixture.PostgresConnectionStringAsync());
        return await new RetentionSweep(new Database(dataSource, metrics), new TaskQueue(redis), metrics).SweepAsync(Policy, CancellationToken.None);
    }

    /// <summary>A sweep that ran; retried while the fixture's own worker happens to hold the lock.</summary>
    private async Task<RetentionSwept> SweepAsync(AgentBusMetrics metrics, IConnectionMultiplexer redis) =>
        (await AgentBusAppFixture.EventuallyAsync(() => TrySweepAsync(metrics, redis), s => s is not null, TimeSpan.FromSeconds(30), "a sweep that got the lock"))!;

    /// <summary>The fields of a dead letter of a job, as TaskQueue.DeadLetterAsync writes them.</summary>
    internal static NameValueEntry[] DeadLetterFields(Guid projectId, Guid jobId) =>
        [.. new TaskMessage(Guid.NewGuid(), jobId, projectId, "plan", null, null).ToEntries(), new("error", "provider_error: test"),
            new("dead_lettered_at", DateTimeOffset.UtcNow.ToString("O"))];

    /// <summary>The seeded project; disposing it deletes it, so no later test of the collection sees a job running for 60 days.</summary>
    private sealed record Seed(NpgsqlConnection Connection, Guid ProjectId, Guid Done, Guid DoneLately, Guid Open) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await using var command = new NpgsqlCommand("DELETE FROM projects WHERE project_id = $1", Connection);
            command.Parameters.AddWithValue(ProjectId);
            await command.ExecuteNonQueryAsync();
        }
    }

    /// <summary>
    /// One project with three jobs: one finished 60 days ago, one finished yesterday after running
    /// for 60 days, one running for 60 days; their events and artifact versions, mostly 60 days old.
    /// </summary>
    private static async Task<Seed> SeedAsync(NpgsqlConnection connection)
    {
        var seed = new Seed(connection, Guid.CreateVersion7(), Guid.CreateVersion7(), Guid.CreateVersion7(), Guid.CreateVersion7());
        await using var command = new NpgsqlCommand(
            """
            INSERT INTO projects (project_id, name, requirements) VALUES (@p, 'retention', 'Users must be able to export invoices.');
            INSERT INTO jobs (job_id, project_id, status, created_at, completed_at, event_seq) VALUES
              (@done, @p, 'completed', now() - interval '61 days', now() - interval '60 days', 4),
              (@lately, @p, 'failed', now() - interval '61 days', now() - interval '1 day', 2),
              (@open, @p, 'running', now() - interval '61 days', NULL, 3);
            INSERT INTO job_events (job_id, seq, type, created_at) VALUES
              (@done, 1, 'job_created', now() - interval '61 days'), (@done, 2, 'stage_started', now() - interval '61 days'),
              (@done, 3, 'job_completed', now() - interval '60 days'), (@done, 4, 'budget_changed', now()),
              (@lately, 1, 'job_created', now() - interval '61 days'), (@lately, 2, 'stage_started', now() - interval '60 days'),
              (@open, 1, 'job_created', now() - interval '61 days'), (@open, 2, 'stage_started', now() - interval '61 days'),
              (@open, 3, 'stage_retry', now() - interval '60 days');
            INSERT INTO artifacts (job_id, type, version, task_id, content, content_type, created_at) VALUES
              (@done, 'prd', 1, gen_random_uuid(), 'v1', 'text/markdown', now() - interval '61 days'),
              (@done, 'prd', 2, gen_random_uuid(), 'v2', 'text/markdown', now() - interval '61 days'),
              (@done, 'prd', 3, gen_random_uuid(), 'v3', 'text/markdown', now() - interval '60 days'),
              (@done, 'plan', 1, gen_random_uuid(), '{}', 'application/json', now() - interval '60 days'),
              (@lately, 'architecture', 1, gen_random_uuid(), 'v1', 'text/markdown', now() - interval '60 days'),
              (@lately, 'architecture', 2, gen_random_uuid(), 'v2', 'text/markdown', now() - interval '1 day'),
              (@open, 'prd', 1, gen_random_uuid(), 'v1', 'text/markdown', now() - interval '1 day'),
              (@open, 'prd', 2, gen_random_uuid(), 'v2', 'text/markdown', now());
            """, connection);
        command.Parameters.AddWithValue("p", seed.ProjectId);
        command.Parameters.AddWithValue("done", seed.Done);
        command.Parameters.AddWithValue("lately", seed.DoneLately);
        command.Parameters.AddWithValue("open", seed.Open);
        await command.ExecuteNonQueryAsync();
        return seed;
    }

    private static Task<List<int>> SeqsAsync(NpgsqlConnection connection, Guid jobId) =>
        ColumnAsync<int>(connection, "SELECT seq FROM job_events WHERE job_id = $1 ORDER BY seq", jobId);

    private static Task<List<string>> VersionsAsync(NpgsqlConnection connection, Guid jobId) =>
        ColumnAsync<string>(connection, "SELECT type || ':' || version FROM artifacts WHERE job_id = $1 ORDER BY type, version", jobId);

    private static async Task<List<T>> ColumnAsync<T>(NpgsqlConnection connection, string sql, Guid jobId)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        command.Parameters.AddWithValue(jobId);
        var values = new List<T>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            values.Add(reader.GetFieldValue<T>(0));
        }
        return values;
    }

    private async Task<NpgsqlConnection> OpenAsync()
    {
        var connection = new NpgsqlConnection(await fixture.PostgresConnectionStringAsync());
        await connection.OpenAsync();
        return connection;
    }
}
