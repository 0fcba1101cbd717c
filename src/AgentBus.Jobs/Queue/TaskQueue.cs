using System.Text.Json;
using StackExchange.Redis;

namespace AgentBus.Queue;

/// <summary>
/// Redis Streams queues with one consumer group. At least once: an entry stays in the group's
/// pending list until acknowledged; entries whose lease lapsed are reclaimed with XAUTOCLAIM;
/// retries wait in a sorted set until due; poison entries go to a dead-letter stream.
/// Acknowledged entries are deleted, so XLEN is the queue depth.
/// </summary>
public sealed class TaskQueue(IConnectionMultiplexer redis)
{
    public const string Cpu = "cpu";
    public const string Gpu = "gpu";
    public const string Group = "agentbus-workers";
    public static readonly string[] Names = [Cpu, Gpu];

    public static RedisKey StreamKey(string queue) => $"agentbus:queue:{queue}";
    public static RedisKey DeadLetterKey(string queue) => $"agentbus:queue:{queue}:dead";
    public static RedisKey DelayedKey(string queue) => $"agentbus:queue:{queue}:delayed";
    public static RedisChannel NotifyChannel(string queue) => RedisChannel.Literal($"agentbus:queue:{queue}:notify");

    // Moves due retries into the stream atomically, so a crash cannot drop or double them.
    private static readonly LuaScript PromoteScript = LuaScript.Prepare("""
        local due = redis.call('ZRANGEBYSCORE', @delayed, '-inf', @now, 'LIMIT', 0, 100)
        for _, member in ipairs(due) do
          local fields = cjson.decode(member)
          local args = {}
          for i = 1, #fields do args[#args + 1] = fields[i] end
          redis.call('XADD', @stream, '*', unpack(args))
          redis.call('ZREM', @delayed, member)
        end
        return #due
        """);

    // Renews the entries this consumer still holds and names those it does not: an entry another
    // consumer reclaimed (its lease lapsed here) stays theirs instead of being claimed back.
    private const string RenewScript = """
        local lost = {}
        for i = 3, #ARGV do
          local pending = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)
          if #pending == 1 and pending[1][2] == ARGV[2] then
            redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
          else
            lost[#lost + 1] = ARGV[i]
          end
        end
        return lost
        """;

    // Acknowledges (and deletes) an entry unless another consumer holds it now.
    private const string AckScript = """
        local pending = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1)
        if #pending == 1 and pending[1][2] ~= ARGV[2] then return 0 end
        redis.call('XACK', KEYS[1], ARGV[1], ARGV[3])
        redis.call('XDEL', KEYS[1], ARGV[3])
        return 1
        """;

    private IDatabase Db => redis.GetDatabase();

    /// <summary>Names a delivery as stage_runs.lease_entry keeps it: "queue/entry id".</summary>
    public static string LeaseOf(Delivery delivery) => $"{delivery.Queue}/{delivery.EntryId}";

    public async Task EnsureGroupAsync(string queue)
    {
        try
        {
            await Db.StreamCreateConsumerGroupAsync(StreamKey(queue), Group, "0-0", createStream: true);
        }
        catch (RedisServerException e) when (e.Message.StartsWith("BUSYGROUP", StringComparison.Ordinal))
        {
            // Another process created it first.
        }
    }

    /// <summary>
    /// Adds tasks to a queue, in order, then wakes its consumers once. The XADDs go back to back on
    /// the one connection and are awaited together: a batch costs one round trip, not one per task.
    /// </summary>
    public async Task EnqueueAsync(string queue, IReadOnlyList<TaskMessage> tasks)
    {
        var (db, stream) = (Db, StreamKey(queue));
        await Task.WhenAll(tasks.Select(task => db.StreamAddAsync(stream, task.ToEntries())));
        await db.PublishAsync(NotifyChannel(queue), "1", CommandFlags.FireAndForget);
    }

    public async Task<IReadOnlyList<Delivery>> ReadAsync(string queue, string consumer, int count)
    {
        var entries = await Db.StreamReadGroupAsync(StreamKey(queue), Group, consumer, ">", count);
        return entries.Select(e => ToDelivery(queue, e)).ToList();
    }

    /// <summary>Takes over entries that no consumer has renewed for longer than <paramref name="lease"/>.</summary>
    public async Task<IReadOnlyList<Delivery>> ReclaimAsync(string queue, string consumer, TimeSpan lease, int count)
    {
        var result = await Db.StreamAutoClaimAsync(StreamKey(queue), Group, consumer, (long)lease.TotalMilliseconds, "0-0", count);
        return result.ClaimedEntries.Where(e => !e.IsNull).Select(e => ToDelivery(queue, e)).ToList();
    }

    /// <summary>
    /// Resets the idle time of entries this consumer is still working on, so they are not
    /// reclaimed; returns those it no longer holds (another consumer reclaimed them).
    /// </summary>
    public async Task<IReadOnlyList<string>> RenewAsync(string queue, string consumer, IReadOnlyCollection<string> entryIds)
    {
        if (entryIds.Count == 0)
        {
            return [];
        }
        var lost = (RedisResult[])(await Db.ScriptEvaluateAsync(RenewScript, [StreamKey(queue)], [Group, consumer, .. entryIds.Select(id => (RedisValue)id)]))!;
        return [.. lost.Select(r => (string)r!)];
    }

    /// <summary>Whether a lease ("queue/entry id", <see cref="LeaseOf"/>) is still delivered to some consumer and not acknowledged.</summary>
    public async Task<bool> IsPendingAsync(string lease)
    {
        var slash = lease.IndexOf('/', StringComparison.Ordinal);
        return await OwnerAsync(lease[..slash], lease[(slash + 1)..]) is not null;
    }

    /// <summary>The consumer the entry is delivered to now, or null when it is not pending.</summary>
    public Task<string?> OwnerAsync(Delivery delivery) => OwnerAsync(delivery.Queue, delivery.EntryId);

    private async Task<string?> OwnerAsync(string queue, string entryId) =>
        (await Db.StreamPendingMessagesAsync(StreamKey(queue), Group, 1, RedisValue.Null, entryId, entryId)) is [var pending]
            ? (string?)pending.ConsumerName : null;

    /// <summary>Acknowledges and deletes the entry, unless another consumer holds it now (then it is theirs to finish).</summary>
    public async Task AckAsync(Delivery delivery, string consumer) =>
        await Db.ScriptEvaluateAsync(AckScript, [StreamKey(delivery.Queue)], [Group, consumer, delivery.EntryId]);

    /// <summary>Puts the task back at the end of its queue now (hand-back on shutdown).</summary>
    public Task RequeueAsync(Delivery delivery) => RetryLaterAsync(delivery, TimeSpan.Zero);

    public async Task RetryLaterAsync(Delivery delivery, TimeSpan delay)
    {
        var fields = JsonSerializer.Serialize(delivery.Raw.SelectMany(v => new[] { (string)v.Name!, (string)v.Value! }).ToArray());
        var due = DateTimeOffset.UtcNow.Add(delay).ToUnixTimeMilliseconds();
        var tx = Db.CreateTransaction();
        _ = tx.SortedSetAddAsync(DelayedKey(delivery.Queue), fields, due);
        _ = tx.StreamAcknowledgeAsync(StreamKey(delivery.Queue), Group, delivery.EntryId);
        _ = tx.StreamDeleteAsync(StreamKey(delivery.Queue), [delivery.EntryId]);
        await tx.ExecuteAsync();
        if (delay == TimeSpan.Zero)
        {
            await PromoteDueAsync(delivery.Queue);
        }
    }

    public async Task DeadLetterAsync(Delivery delivery, string error)
    {
        var tx = Db.CreateTransaction();
        _ = tx.StreamAddAsync(DeadLetterKey(delivery.Queue), [.. delivery.Raw, new("error", error), new("dead_lettered_at", DateTimeOffset.UtcNow.ToString("O"))]);
        _ = tx.StreamAcknowledgeAsync(StreamKey(delivery.Queue), Group, delivery.EntryId);
        _ = tx.StreamDeleteAsync(StreamKey(delivery.Queue), [delivery.EntryId]);
        await tx.ExecuteAsync();
    }

    /// <summary>The newest dead letters of a queue first, at most <paramref name="count"/>.</summary>
    public async Task<IReadOnlyList<DeadLetter>> ListDeadLettersAsync(string queue, int count) =>
        [.. (await Db.StreamRangeAsync(DeadLetterKey(queue), "-", "+", count, Order.Descending)).Select(e => ToDeadLetter(queue, e))];

    /// <summary>One dead letter, or null when there is none with that id.</summary>
    public async Task<DeadLetter?> FindDeadLetterAsync(string queue, string entryId) =>
        (await Db.StreamRangeAsync(DeadLetterKey(queue), entryId, entryId, 1)) is [var entry] ? ToDeadLetter(queue, entry) : null;

    /// <summary>Deletes a dead letter (it was sent back to its queue); false when it was already gone.</summary>
    public async Task<bool> RemoveDeadLetterAsync(string queue, string entryId) =>
        await Db.StreamDeleteAsync(DeadLetterKey(queue), [entryId]) == 1;

    /// <summary>
    /// Deletes a queue's dead letters older than <paramref name="before"/>; returns how many. Entry
    /// ids are the milliseconds of the dead-lettering, so XTRIM MINID removes by age in Redis
    /// itself, exactly (not "~"): a dead-letter stream holds failures only, never many.
    /// </summary>
    public Task<long> TrimDeadLettersAsync(string queue, DateTimeOffset before) =>
        Db.StreamTrimByMinIdAsync(DeadLetterKey(queue), $"{before.ToUnixTimeMilliseconds()}-0");

    /// <summary>Deletes every queue's dead letters of one project (its erasure); returns how many.</summary>
    public async Task<long> RemoveDeadLettersOfProjectAsync(Guid projectId)
    {
        var removed = 0L;
        foreach (var queue in Names)
        {
            var entries = await Db.StreamRangeAsync(DeadLetterKey(queue));
            var ids = entries.Where(e => (string?)e["project_id"] == projectId.ToString()).Select(e => e.Id).ToArray();
            removed += ids.Length == 0 ? 0 : await Db.StreamDeleteAsync(DeadLetterKey(queue), ids);
        }
        return removed;
    }

    private static DeadLetter ToDeadLetter(string queue, StreamEntry entry) =>
        new(queue, entry.Id!, TaskMessage.FromEntries(entry.Values), (string?)entry["error"],
            DateTimeOffset.TryParse((string?)entry["dead_lettered_at"], System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.RoundtripKind, out var at) ? at : null);

    public async Task<int> PromoteDueAsync(string queue)
    {
        var moved = (int)await Db.ScriptEvaluateAsync(PromoteScript, new
        {
            delayed = DelayedKey(queue),
            stream = StreamKey(queue),
            now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(),
        });
        if (moved > 0)
        {
            await Db.PublishAsync(NotifyChannel(queue), "1", CommandFlags.FireAndForget);
        }
        return moved;
    }

    /// <summary>Tasks waiting or in flight (the stream) plus those waiting to retry.</summary>
    public async Task<long> DepthAsync(string queue) =>
        await Db.StreamLengthAsync(StreamKey(queue)) + await Db.SortedSetLengthAsync(DelayedKey(queue));

    private static Delivery ToDelivery(string queue, StreamEntry entry) =>
        new(queue, entry.Id!, TaskMessage.FromEntries(entry.Values), entry.Values);
}
