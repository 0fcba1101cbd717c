using AgentBus.Telemetry;

namespace AgentBus.IntegrationTests.Observability;

/// <summary>
/// The lease that picks the one process reporting agent_bus_jobs_active, against a redis-server of
/// the test's own: one holder at a time, taken over when the holder stops renewing, handed over at
/// once when it lets go. (That exactly one service exports the gauge is LoadAndMetricsTests'.)
/// </summary>
public sealed class GaugeReporterTests : IAsyncDisposable
{
    private static readonly TimeSpan Ttl = TimeSpan.FromSeconds(1);
    private readonly LocalRedis _server = new();

    [Fact]
    public async Task One_process_holds_the_lease_until_it_stops_renewing_or_lets_go()
    {
        await _server.StartAsync();
        await using var redis = await _server.ConnectAsync();
        var lease = new GaugeReporterLease(redis);

        Assert.True(await lease.TryHoldAsync("worker-a", Ttl));
        Assert.False(await lease.TryHoldAsync("worker-b", Ttl));
        // Renewed within its time, it stays with its holder.
        for (var i = 0; i < 4; i++)
        {
            await Task.Delay(Ttl / 2);
            Assert.True(await lease.TryHoldAsync("worker-a", Ttl));
            Assert.False(await lease.TryHoldAsync("worker-b", Ttl));
        }

        // The holder dies (stops renewing): another takes over once the lease lapses, and keeps it.
        await Task.Delay(Ttl + TimeSpan.FromMilliseconds(200));
        Assert.True(await lease.TryHoldAsync("worker-b", Ttl));
        Assert.False(await lease.TryHoldAsync("worker-a", Ttl));

        // Letting go is only the holder's to do, and hands over at once.
        await lease.ReleaseAsync("worker-a");
        Assert.False(await lease.TryHoldAsync("worker-a", Ttl));
        await lease.ReleaseAsync("worker-b");
        Assert.True(await lease.TryHoldAsync("worker-a", Ttl));
    }

    public ValueTask DisposeAsync() => _server.DisposeAsync();
}
