using StackExchange.Redis;

namespace AgentBus.Queue;

/// <summary>A task read from a queue: the stream entry id is what gets acknowledged.</summary>
public sealed record Delivery(string Queue, string EntryId, TaskMessage? Task, NameValueEntry[] Raw);
