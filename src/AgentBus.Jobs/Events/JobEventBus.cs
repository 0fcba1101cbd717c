using System.Collections.Concurrent;
using System.Text.Json;
using System.Threading.Channels;
using StackExchange.Redis;

namespace AgentBus.Events;

/// <summary>
/// Live job events over one Redis channel. Each process subscribes once and fans events out to
/// its local listeners, each with its own buffer, so every listener gets every event (Redis
/// pub/sub is fire-and-forget: listeners also re-read Postgres, see the SSE endpoint).
/// </summary>
public sealed class JobEventBus(IConnectionMultiplexer redis)
{
    public static readonly RedisChannel Channel = RedisChannel.Literal("agentbus:events");
    public static readonly RedisChannel ControlChannel = RedisChannel.Literal("agentbus:job-control");

    private readonly ConcurrentDictionary<Guid, ConcurrentDictionary<Channel<JobEvent>, byte>> _listeners = new();
    private int _subscribed;

    public async Task PublishAsync(IEnumerable<JobEvent> events)
    {
        // Sent back to back on one connection, so they arrive in order: one wait, not one per event.
        var subscriber = redis.GetSubscriber();
        await Task.WhenAll(events.Select(e => subscriber.PublishAsync(Channel, JsonSerializer.Serialize(e))).ToArray());
    }

    /// <summary>Asks every worker to stop in-flight work of a job now (cancel, reject).</summary>
    public Task PublishStopAsync(Guid jobId) => redis.GetSubscriber().PublishAsync(ControlChannel, jobId.ToString());

    /// <summary>The key of listeners that want the events of every job (the jobs list's live updates).</summary>
    public static readonly Guid AllJobs = Guid.Empty;

    /// <summary>Delivers the job's live events to <paramref name="sink"/>, or every job's for <see cref="AllJobs"/>.</summary>
    public async Task<IAsyncDisposable> ListenAsync(Guid jobId, Channel<JobEvent> sink)
    {
        if (Interlocked.Exchange(ref _subscribed, 1) == 0)
        {
            await redis.GetSubscriber().SubscribeAsync(Channel, (_, message) =>
            {
                var e = JsonSerializer.Deserialize<JobEvent>((string)message!);
                if (e is null)
                {
                    return;
                }
                foreach (var key in (ReadOnlySpan<Guid>)[e.JobId, AllJobs])
                {
                    if (_listeners.TryGetValue(key, out var sinks))
                    {
                        foreach (var listener in sinks.Keys)
                        {
                            listener.Writer.TryWrite(e);
                        }
                    }
                }
            });
        }
        _listeners.GetOrAdd(jobId, _ => new())[sink] = 0;
        return new Listener(this, jobId, sink);
    }

    private sealed class Listener(JobEventBus bus, Guid jobId, Channel<JobEvent> sink) : IAsyncDisposable
    {
        public ValueTask DisposeAsync()
        {
            if (bus._listeners.TryGetValue(jobId, out var sinks))
            {
                sinks.TryRemove(sink, out _);
            }
            return ValueTask.CompletedTask;
        }
    }
}
