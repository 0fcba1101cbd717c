using System.Diagnostics.Metrics;
using System.Text.Json;
using System.Threading.Channels;
using AgentBus.Events;
using AgentBus.Telemetry;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Testing;
using StackExchange.Redis;

namespace AgentBus.IntegrationTests.Pipeline;

/// <summary>
/// The api's live-event bus against a redis-server of the test's own (Debian's binary on a loopback
/// port), which the test can start late: a subscription that failed because Redis was not there is
/// made when it comes, once, and listeners opened and closed by the thousand leave nothing behind.
/// </summary>
public sealed class EventBusTests : IAsyncDisposable
{
    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private readonly FakeLogger<JobEventBus> _log = new();
    private readonly List<AgentBusMetrics> _metrics = [];
    private readonly LocalRedis _server = new();

    private JobEventBus NewBus(IConnectionMultiplexer redis, out AgentBusMetrics metrics)
    {
        metrics = new AgentBusMetrics(_services.GetRequiredService<IMeterFactory>(), "api");
        _metrics.Add(metrics);
        return new JobEventBus(redis, metrics, _log);
    }

    private static JobEvent Event(Guid job, int seq) =>
        new(job, seq, "stage_started", "plan", JsonSerializer.SerializeToElement(new { }), DateTimeOffset.UtcNow);

    [Fact]
    public async Task A_failed_first_subscription_is_made_when_Redis_comes_and_every_event_arrives_once()
    {
        // Redis is not there yet: the first listener's subscription fails, and the listener is kept.
        await using var redis = await _server.ConnectAsync();
        var bus = NewBus(redis, out _);
        var job = Guid.NewGuid();
        var live = Channel.CreateUnbounded<JobEvent>();
        await using var listening = await bus.ListenAsync(job, live).WaitAsync(TimeSpan.FromSeconds(15));
        Assert.Single(_log.Collector.GetSnapshot(), r => r.Id.Name == "event_bus_subscribe_failed");
        // More streams open during the outage; they must not subscribe again (each would add a handler).
        var all = Channel.CreateUnbounded<JobEvent>();
        await using var listeningToAll = await bus.ListenAsync(JobEventBus.AllJobs, all).WaitAsync(TimeSpan.FromSeconds(15));

        // Redis comes up; no listener arrives after it: live events flow all the same.
        await _server.StartAsync();
        await using var publisher = await _server.ConnectAsync();
        var publishing = NewBus(publisher, out _);
        using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var seq = 0;
        while (!live.Reader.TryRead(out _))
        {
            await publishing.PublishAsync([Event(job, ++seq)]);
            await Task.Delay(TimeSpan.FromMilliseconds(200), wait.Token);
        }
        TestContext.Current.SendDiagnosticMessage($"live events flowed from the {seq}th published after redis-server started");

        // Each event arrives once to each listener (after the earlier tries' events are in).
        await Task.Delay(TimeSpan.FromMilliseconds(500), wait.Token);
        while (live.Reader.TryRead(out _) | all.Reader.TryRead(out _))
        {
        }
        // A burst, as a worker's batch of a busy job is: each listener gets it in published order
        // (a handler subscription, whose calls run concurrently, reordered it).
        const int Burst = 300;
        var other = Guid.NewGuid();
        await publishing.PublishAsync([.. Enumerable.Range(seq + 1, Burst).Select(s => Event(job, s)), Event(other, 1)]);
        for (var s = seq + 1; s <= seq + Burst; s++)
        {
            Assert.Equal(s, (await live.Reader.ReadAsync(wait.Token)).Seq);
            Assert.Equal((job, s), Key(await all.Reader.ReadAsync(wait.Token)));
        }
        Assert.Equal((other, 1), Key(await all.Reader.ReadAsync(wait.Token)));
        await Task.Delay(TimeSpan.FromMilliseconds(500), wait.Token);
        Assert.False(live.Reader.TryRead(out var extra), $"an event delivered twice or to the wrong job: {extra}");
        Assert.False(all.Reader.TryRead(out extra), $"an event delivered twice to the all-jobs listener: {extra}");
        Assert.Single(_log.Collector.GetSnapshot(), r => r.Id.Name == "event_bus_subscribe_failed");

        static (Guid, int) Key(JobEvent e) => (e.JobId, e.Seq);
    }

    [Fact]
    public async Task Ten_thousand_listeners_opened_and_closed_leave_listener_count_and_memory_flat()
    {
        await _server.StartAsync();
        await using var redis = await _server.ConnectAsync();
        var bus = NewBus(redis, out var metrics);
        const int Streams = 10_000;

        // Three rounds of 10,000 streams, each of its own job, all open at once and then closed.
        // The first round grows what is kept for the peak; later rounds must not add to it.
        var retained = new List<long>();
        for (var round = 0; round < 3; round++)
        {
            var open = new List<IAsyncDisposable>(Streams);
            for (var i = 0; i < Streams; i++)
            {
                open.Add(await bus.ListenAsync(Guid.NewGuid(), Channel.CreateUnbounded<JobEvent>()));
            }
            Assert.Equal(Streams, metrics.ListenedJobs);
            foreach (var listener in open)
            {
                await listener.DisposeAsync();
            }
            Assert.Equal(0, metrics.ListenedJobs);
            open.Clear();
            GC.Collect();
            GC.WaitForPendingFinalizers();
            retained.Add(GC.GetTotalMemory(forceFullCollection: true));
        }
        var growth = retained[^1] - retained[0];
        TestContext.Current.SendDiagnosticMessage($"heap after each round of {Streams:N0} streams: {string.Join(", ", retained.Select(b => $"{b / 1024.0 / 1024:F1} MiB"))}");
        // A kept entry costs a few hundred bytes (its emptied set and slot): 20,000 of them would be megabytes.
        Assert.True(growth < 1024 * 1024, $"the heap grew {growth / 1024} KiB over two rounds of {Streams:N0} streams ({string.Join(", ", retained)})");
    }

    public async ValueTask DisposeAsync()
    {
        _metrics.ForEach(m => m.Dispose());
        await _server.DisposeAsync();
        await _services.DisposeAsync();
    }
}
