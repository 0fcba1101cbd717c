using AgentBus.Queue;
using StackExchange.Redis;

namespace AgentBus.IntegrationTests.Pipeline;

/// <summary>The Redis queue on its own, on the topology's Redis, under a queue name no worker consumes.</summary>
[Collection(AppHostCollection.Name)]
public sealed class TaskQueueTests(AppHostFixture fixture)
{
    [Fact]
    public async Task A_batch_lands_whole_and_in_order_and_wakes_the_queues_consumers_once()
    {
        await using var redis = await ConnectionMultiplexer.ConnectAsync(await fixture.ConnectionStringAsync("redis"));
        var queue = new TaskQueue(redis);
        var name = $"test-{Guid.NewGuid():N}";
        var wakeUps = 0;
        var firstWakeUp = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await redis.GetSubscriber().SubscribeAsync(TaskQueue.NotifyChannel(name), (_, _) =>
        {
            Interlocked.Increment(ref wakeUps);
            firstWakeUp.TrySetResult();
        });
        var batch = Enumerable.Range(0, 50)
            .Select(i => new TaskMessage(Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid(), $"stage-{i}", i % 2 == 0 ? null : $"00-{Guid.NewGuid():N}-{i:x16}-01",
                i % 3 == 0 ? null : $"00-{Guid.NewGuid():N}-{i + 100:x16}-01"))
            .ToArray();
        try
        {
            await queue.EnsureGroupAsync(name);
            await queue.EnqueueAsync(name, batch);

            var delivered = await queue.ReadAsync(name, "test-consumer", 100);
            Assert.Equal(batch, delivered.Select(d => d.Task));
            await firstWakeUp.Task.WaitAsync(TimeSpan.FromSeconds(10));
            // Pub/sub is asynchronous: give any further wake-ups time to arrive before counting.
            await Task.Delay(TimeSpan.FromMilliseconds(500));
            Assert.Equal(1, Volatile.Read(ref wakeUps));
        }
        finally
        {
            await redis.GetDatabase().KeyDeleteAsync(TaskQueue.StreamKey(name));
        }
    }
}
