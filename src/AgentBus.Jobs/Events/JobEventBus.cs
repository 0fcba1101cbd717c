using System.Text.Json;
using System.Threading.Channels;
using AgentBus.Telemetry;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace AgentBus.Events;

/// <summary>
/// Live job events over one Redis channel. Each process subscribes once and fans events out to
/// its local listeners, each with its own buffer, so every listener gets every event (Redis
/// pub/sub is fire-and-forget: listeners also re-read Postgres, see the SSE endpoint). A job's
/// entry goes when its last listener does, so streams opened and closed leave nothing behind.
/// </summary>
public sealed partial class JobEventBus(IConnectionMultiplexer redis, AgentBusMetrics metrics, ILogger<JobEventBus> logger)
{
    public static readonly RedisChannel Channel = RedisChannel.Literal("agentbus:events");
    public static readonly RedisChannel ControlChannel = RedisChannel.Literal("agentbus:job-control");

    // Guarded by _lock: adding to a job's set and removing the emptied set must not interleave.
    private readonly Dictionary<Guid, HashSet<Channel<JobEvent>>> _listeners = [];
    private readonly Lock _lock = new();
    // The process's one subscription, made by whoever first needs it (see Subscription); guarded by _lock.
    private Task? _subscribing;
    private readonly ISubscriber _subscriber = redis.GetSubscriber();

    /// <summary>
    /// Raised for the job of each event, as this process publishes it and as it arrives from Redis,
    /// before any listener has it: what a process holds of the job is stale from here on.
    /// </summary>
    public event Action<Guid>? JobChanged;

    public async Task PublishAsync(IEnumerable<JobEvent> events)
    {
        // Sent back to back on one connection, so they arrive in order: one wait, not one per event.
        await Task.WhenAll(events.Select(e =>
        {
            JobChanged?.Invoke(e.JobId);
            return _subscriber.PublishAsync(Channel, JsonSerializer.Serialize(e));
        }).ToArray());
    }

    /// <summary>
    /// Whether this process receives live events now (subscribed, and its connection up); the first
    /// ask subscribes it, without waiting.
    /// </summary>
    public bool IsSubscribed =>
        Subscription().IsCompletedSuccessfully && _subscriber.SubscribedEndpoint(Channel) is not null;

    /// <summary>The process's one subscription to <see cref="Channel"/>, started by the first call.</summary>
    private Task Subscription()
    {
        if (Volatile.Read(ref _subscribing) is { } subscribing)
        {
            return subscribing;
        }
        lock (_lock)
        {
            return _subscribing ??= SubscribeAsync();
        }
    }

    /// <summary>Asks every worker to stop in-flight work of a job now (cancel, reject).</summary>
    public Task PublishStopAsync(Guid jobId) => _subscriber.PublishAsync(ControlChannel, jobId.ToString());

    /// <summary>The key of listeners that want the events of every job (the jobs list's live updates).</summary>
    public static readonly Guid AllJobs = Guid.Empty;

    /// <summary>
    /// Delivers the job's live events to <paramref name="sink"/>, or every job's for <see cref="AllJobs"/>.
    /// The first listener subscribes this process to Redis, once, and waits until Redis has it.
    /// The subscription is registered with the client before it is sent, so when Redis is not
    /// there yet the client makes it when a connection comes and it is never asked again (a
    /// second subscribe would add a second reader, and every event would come twice). Streams
    /// re-read Postgres meanwhile.
    /// </summary>
    public async Task<IAsyncDisposable> ListenAsync(Guid jobId, Channel<JobEvent> sink)
    {
        lock (_lock)
        {
            if (!_listeners.TryGetValue(jobId, out var sinks))
            {
                _listeners[jobId] = sinks = [];
            }
            sinks.Add(sink);
            metrics.ListenedJobs = _listeners.Count;
        }
        await Subscription();
        return new Listener(this, jobId, sink);
    }

    private async Task SubscribeAsync()
    {
        // A message queue read by one loop keeps a job's events in their published order; a handler
        // subscription runs its calls concurrently, and a stream saw seq 7 before 6 (then re-read
        // Postgres for the gap). Fire-and-forget registers it without waiting for Redis, which the
        // ping below does: it goes over the subscription's connection, behind the SUBSCRIBE.
        var queue = await _subscriber.SubscribeAsync(Channel, CommandFlags.FireAndForget);
        queue.OnMessage(message => Deliver((string)message.Message!));
        try
        {
            await _subscriber.PingAsync();
        }
        catch (Exception e) when (e is RedisException or RedisTimeoutException)
        {
            LogSubscribeFailed(e.Message);
        }
    }

    private void Deliver(string message)
    {
        if (JsonSerializer.Deserialize<JobEvent>(message) is not { } e)
        {
            return;
        }
        JobChanged?.Invoke(e.JobId);
        lock (_lock)
        {
            foreach (var key in (ReadOnlySpan<Guid>)[e.JobId, AllJobs])
            {
                if (_listeners.TryGetValue(key, out var sinks))
                {
                    foreach (var listener in sinks)
                    {
                        listener.Writer.TryWrite(e);
                    }
                }
            }
        }
    }

    private void Remove(Guid jobId, Channel<JobEvent> sink)
    {
        lock (_lock)
        {
            if (_listeners.TryGetValue(jobId, out var sinks) && sinks.Remove(sink) && sinks.Count == 0)
            {
                _listeners.Remove(jobId);
            }
            metrics.ListenedJobs = _listeners.Count;
        }
    }

    private sealed class Listener(JobEventBus bus, Guid jobId, Channel<JobEvent> sink) : IAsyncDisposable
    {
        public ValueTask DisposeAsync()
        {
            bus.Remove(jobId, sink);
            return ValueTask.CompletedTask;
        }
    }

    [LoggerMessage(EventId = 310, EventName = "event_bus_subscribe_failed", Level = LogLevel.Warning,
        Message = "Subscribing to live job events failed ({Error}); the Redis client subscribes when its connection comes, and streams read Postgres meanwhile")]
    private partial void LogSubscribeFailed(string error);
}
