using AgentBus.Data;
using AgentBus.Queue;
using StackExchange.Redis;

namespace AgentBus.Consumer;

/// <summary>What a consumer keeps up beside its tasks: their leases, lapsed and due tasks, and the gauges it reports.</summary>
public sealed partial class TaskConsumer
{
    /// <summary>
    /// Renews the leases of running tasks, three times a lease, on a timer of its own that runs
    /// until the last task in flight ended (the shutdown drain included); a task whose entry another
    /// consumer took over is stopped.
    /// </summary>
    private async Task RenewLeasesAsync()
    {
        using var timer = new PeriodicTimer(_queue.Lease / 3);
        while (await timer.WaitForNextTickAsync(_renewalStop.Token).AsTask().ContinueWith(t => t.Status == TaskStatus.RanToCompletion && t.Result, TaskScheduler.Default))
        {
            try
            {
                foreach (var entryId in await queue.RenewAsync(_options.Queue, _consumer, _inFlight.Keys.ToArray()))
                {
                    if (_inFlight.TryGetValue(entryId, out var flight))
                    {
                        try
                        {
                            await flight.LeaseLost.CancelAsync();
                        }
                        catch (ObjectDisposedException)
                        {
                            // It finished meanwhile.
                        }
                    }
                }
            }
            catch (Exception e) when (Outage.Is(e))
            {
                LogInfrastructure(e.GetType().Name, e.Message);
            }
        }
    }

    /// <summary>Reclaims lapsed leases, promotes due retries, refreshes gauges.</summary>
    private async Task HousekeepingAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(_queue.Lease / 3);
        var reportingUntil = DateTime.MinValue;
        while (await timer.WaitForNextTickAsync(stoppingToken).AsTask().ContinueWith(t => t.Status == TaskStatus.RanToCompletion && t.Result, TaskScheduler.Default))
        {
            try
            {
                await queue.PromoteDueAsync(_options.Queue);
                var free = Capacity - _inFlight.Count;
                if (free > 0)
                {
                    foreach (var delivery in await queue.ReclaimAsync(_options.Queue, _consumer, _queue.Lease, free))
                    {
                        if (!_inFlight.ContainsKey(delivery.EntryId))
                        {
                            LogReclaimed(delivery.EntryId, delivery.Task?.Stage);
                            Start(delivery);
                        }
                    }
                }
                foreach (var name in TaskQueue.Names)
                {
                    metrics.QueueSizes[name] = await queue.DepthAsync(name);
                }
                // One process per deployment reports it (the lease lasts three refreshes).
                var reporting = await reporter.TryHoldAsync(_consumer, _queue.Lease);
                reportingUntil = reporting ? DateTime.UtcNow + _queue.Lease : DateTime.MinValue;
                metrics.JobsActive = reporting ? await queries.CountActiveJobsAsync(stoppingToken) : null;
                metrics.LlmSpendTodayUsd = (double)await spend.TodayAsync(stoppingToken);
                metrics.LlmDailyCapUsd = (double?)llmOptions.Value.DailySpendCapUsd;
            }
            catch (Exception e) when (Outage.Is(e))
            {
                LogInfrastructure(e.GetType().Name, e.Message);
                if (DateTime.UtcNow > reportingUntil)
                {
                    metrics.JobsActive = null; // its lease may be another's by now
                }
            }
        }
    }

    /// <summary>Lets another process report agent_bus_jobs_active at its next refresh instead of after the lease lapses.</summary>
    private async Task HandOverGaugesAsync()
    {
        metrics.JobsActive = null;
        try
        {
            await reporter.ReleaseAsync(_consumer);
        }
        catch (Exception e) when (e is RedisException or RedisTimeoutException)
        {
            LogRedisError(e.Message); // the lease lapses by itself
        }
    }
}
