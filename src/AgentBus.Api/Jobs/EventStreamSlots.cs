using System.Collections.Concurrent;
using Microsoft.Extensions.Options;

namespace AgentBus.Api.Jobs;

/// <summary>AgentBus:EventStreams: how many event streams one caller may hold open on one replica.</summary>
public sealed class EventStreamOptions
{
    public const string Section = "AgentBus:EventStreams";

    public int MaxPerCaller { get; set; } = 32;
}

/// <summary>
/// Open event streams per caller (API key or token subject). A stream holds a connection, a
/// buffer and a Postgres re-read every few seconds: one caller cannot take them all.
/// </summary>
public sealed class EventStreamSlots(IOptions<EventStreamOptions> options)
{
    private readonly ConcurrentDictionary<string, int> _open = new();

    /// <summary>A slot for <paramref name="caller"/>, released on dispose; null when the caller holds the most it may.</summary>
    public IDisposable? TryTake(string caller)
    {
        while (true)
        {
            var held = _open.GetValueOrDefault(caller);
            if (held >= options.Value.MaxPerCaller)
            {
                return null;
            }
            if (held == 0 ? _open.TryAdd(caller, 1) : _open.TryUpdate(caller, held + 1, held))
            {
                return new Slot(this, caller);
            }
        }
    }

    private void Release(string caller)
    {
        while (true)
        {
            var held = _open[caller];
            // The last slot removes the entry (only if nobody took one meanwhile), so callers that come and go leave nothing.
            if (held == 1 ? _open.TryRemove(KeyValuePair.Create(caller, 1)) : _open.TryUpdate(caller, held - 1, held))
            {
                return;
            }
        }
    }

    private sealed class Slot(EventStreamSlots slots, string caller) : IDisposable
    {
        private int _released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0)
            {
                slots.Release(caller);
            }
        }
    }
}
