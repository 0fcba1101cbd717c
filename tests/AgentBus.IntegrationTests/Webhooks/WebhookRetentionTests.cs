using System.Diagnostics.Metrics;
using AgentBus.Data;
using AgentBus.Queue;
using AgentBus.Store;
using AgentBus.Telemetry;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using StackExchange.Redis;

namespace AgentBus.IntegrationTests.Webhooks;

/// <summary>The retention sweep deletes webhook deliveries that ended long ago, and never a pending one.</summary>
[Collection(AppHostCollection.Name)]
public sealed class WebhookRetentionTests(AppHostFixture fixture)
{
    [Fact]
    public async Task Deliveries_delivered_or_dead_before_the_cutoff_are_swept_and_pending_ones_stay()
    {
        await using var connection = new NpgsqlConnection(await fixture.PostgresConnectionStringAsync());
        await connection.OpenAsync();
        var (project, job, subscription) = (Guid.CreateVersion7(), Guid.CreateVersion7(), Guid.CreateVersion7());
        await using (var seed = new NpgsqlCommand(
            """
            INSERT INTO projects (project_id, name, requirements) VALUES (@p, 'webhook retention', 'Users must be able to export invoices.');
            INSERT INTO jobs (job_id, project_id, status, completed_at) VALUES (@j, @p, 'completed', now());
            INSERT INTO webhook_subscriptions (id, url, events, secret) VALUES (@s, 'https://hooks.example.com/x', ARRAY['job_completed'], 'whsec_x');
            INSERT INTO webhook_deliveries (id, subscription_id, job_id, seq, event, payload, status, created_at, completed_at) VALUES
              (gen_random_uuid(), @s, @j, 1, 'job_completed', '{}', 'delivered', now() - interval '61 days', now() - interval '60 days'),
              (gen_random_uuid(), @s, @j, 2, 'job_completed', '{}', 'dead', now() - interval '61 days', now() - interval '60 days'),
              (gen_random_uuid(), @s, @j, 3, 'job_completed', '{}', 'dead', now() - interval '61 days', now() - interval '1 day'),
              (gen_random_uuid(), @s, @j, 4, 'job_completed', '{}', 'pending', now() - interval '61 days', NULL);
            """, connection))
        {
            seed.Parameters.AddWithValue("p", project);
            seed.Parameters.AddWithValue("j", job);
            seed.Parameters.AddWithValue("s", subscription);
            await seed.ExecuteNonQueryAsync();
        }
        try
        {
            await using var redis = await ConnectionMultiplexer.ConnectAsync(await fixture.ConnectionStringAsync("redis"));
            using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
            using var metrics = new AgentBusMetrics(services.GetRequiredService<IMeterFactory>(), "worker");
            await using var dataSource = NpgsqlDataSource.Create(await fixture.PostgresConnectionStringAsync());
            var sweep = new RetentionSweep(new Database(dataSource, metrics), new TaskQueue(redis), metrics);
            var policy = new RetentionPolicy(TimeSpan.FromDays(30), TimeSpan.FromDays(30), TimeSpan.FromDays(30), TimeSpan.FromDays(30), 1000);
            // Retried while the fixture's own worker happens to hold the sweep's lock.
            await AgentBusAppFixture.EventuallyAsync(() => sweep.SweepAsync(policy, CancellationToken.None), s => s is not null, TimeSpan.FromSeconds(30), "a sweep that got the lock");

            await using var left = new NpgsqlCommand("SELECT seq FROM webhook_deliveries WHERE subscription_id = $1 ORDER BY seq", connection);
            left.Parameters.AddWithValue(subscription);
            var seqs = new List<int>();
            await using (var reader = await left.ExecuteReaderAsync())
            {
                while (await reader.ReadAsync())
                {
                    seqs.Add(reader.GetInt32(0));
                }
            }
            Assert.Equal([3, 4], seqs);
        }
        finally
        {
            await using var cleanup = new NpgsqlCommand("DELETE FROM webhook_subscriptions WHERE id = @s; DELETE FROM projects WHERE project_id = @p", connection);
            cleanup.Parameters.AddWithValue("s", subscription);
            cleanup.Parameters.AddWithValue("p", project);
            await cleanup.ExecuteNonQueryAsync();
        }
    }
}
