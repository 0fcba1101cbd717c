using AgentBus.Events;
using AgentBus.Jobs;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Options;

namespace AgentBus.Store;

public sealed class JobCacheOptions
{
    public const string Section = "AgentBus:JobCache";

    /// <summary>
    /// The longest a job is read from memory: the bound on how stale a read can be after a change
    /// that carries no live event (a lease requeue, a routing fallback, an erasure on another
    /// replica) or whose event was lost. Zero turns the cache off.
    /// </summary>
    public TimeSpan Ttl { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How many jobs are held at most (a job with its 11 stages is a few kilobytes).</summary>
    public int MaxJobs { get; set; } = 10_000;

    public bool IsValid => Ttl >= TimeSpan.Zero && Ttl <= TimeSpan.FromMinutes(1) && MaxJobs >= 1;
}

/// <summary>
/// The read model behind GET /api/jobs/{id}: a job polled by a page, the CLI or a script is read
/// from Postgres once per change, not once per request. Every job event, as this process publishes
/// it or as it arrives from Redis, drops the job's entry, so a reader that saw an event reads a
/// job at least that new; changes without an event age out after <see cref="JobCacheOptions.Ttl"/>.
/// While this process is not subscribed to the live events (Redis gone), every read goes to Postgres.
/// </summary>
public sealed class JobDetailCache : IDisposable
{
    // A read that started before a change must not store what it read after the change dropped
    // the entry: each job maps to a stripe whose generation every drop advances, and a read keeps
    // its result only if its stripe's generation did not move meanwhile.
    private const int Stripes = 1024;
    private readonly long[] _generations = new long[Stripes];
    private readonly MemoryCache _entries;
    private readonly TimeSpan _ttl;
    private readonly JobQueries _queries;
    private readonly JobEventBus _bus;

    public JobDetailCache(JobQueries queries, JobEventBus bus, IOptions<JobCacheOptions> options)
    {
        (_queries, _bus, _ttl) = (queries, bus, options.Value.Ttl);
        _entries = new MemoryCache(new MemoryCacheOptions { SizeLimit = options.Value.MaxJobs });
        bus.JobChanged += Drop;
    }

    public async Task<JobDetail?> GetAsync(Guid jobId, CancellationToken ct)
    {
        if (_ttl == TimeSpan.Zero || !_bus.IsSubscribed)
        {
            return await _queries.GetJobDetailAsync(jobId, ct);
        }
        if (_entries.TryGetValue(jobId, out JobDetail? held))
        {
            return held;
        }
        var stripe = Stripe(jobId);
        var before = Volatile.Read(ref _generations[stripe]);
        var detail = await _queries.GetJobDetailAsync(jobId, ct);
        if (detail is not null && Volatile.Read(ref _generations[stripe]) == before)
        {
            _entries.Set(jobId, detail, new MemoryCacheEntryOptions { Size = 1, AbsoluteExpirationRelativeToNow = _ttl });
            // A drop between the check and the store advanced the generation: undo the store.
            if (Volatile.Read(ref _generations[stripe]) != before)
            {
                _entries.Remove(jobId);
            }
        }
        return detail;
    }

    /// <summary>Forgets the jobs now (an erasure on this replica).</summary>
    public void Drop(IEnumerable<Guid> jobIds)
    {
        foreach (var jobId in jobIds)
        {
            Drop(jobId);
        }
    }

    private void Drop(Guid jobId)
    {
        Interlocked.Increment(ref _generations[Stripe(jobId)]);
        _entries.Remove(jobId);
    }

    private static int Stripe(Guid jobId) => (jobId.GetHashCode() & int.MaxValue) % Stripes;

    public void Dispose()
    {
        _bus.JobChanged -= Drop;
        _entries.Dispose();
    }
}
