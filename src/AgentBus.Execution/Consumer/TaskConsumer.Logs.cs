using Microsoft.Extensions.Logging;

namespace AgentBus.Consumer;

/// <summary>The consumer's log events (ids 400 to 412).</summary>
public sealed partial class TaskConsumer
{
    [LoggerMessage(EventId = 400, EventName = "consumer_started", Level = LogLevel.Information, Message = "Consuming queue {QueueName} as {Consumer}, {Concurrency} at a time")]
    private partial void LogStarted(string queueName, string consumer, int concurrency);
    [LoggerMessage(EventId = 401, EventName = "stage_retry_scheduled", Level = LogLevel.Warning, Message = "Stage {Stage} attempt {Attempt} failed ({ErrorCode}: {Error}); retry in {DelaySeconds:F1} s")]
    private partial void LogRetry(string stage, int attempt, string errorCode, string error, double delaySeconds);
    [LoggerMessage(EventId = 402, EventName = "stage_dead_lettered", Level = LogLevel.Error, Message = "Stage {Stage} failed for good after attempt {Attempt} ({ErrorCode}: {Error}); task dead-lettered")]
    private partial void LogDeadLettered(string stage, int attempt, string errorCode, string error);
    [LoggerMessage(EventId = 403, EventName = "task_reclaimed", Level = LogLevel.Warning, Message = "Reclaimed task {EntryId} ({Stage}) whose lease lapsed")]
    private partial void LogReclaimed(string entryId, string? stage);
    [LoggerMessage(EventId = 404, EventName = "task_handed_back", Level = LogLevel.Warning, Message = "Stage {Stage} handed back to the queue on shutdown")]
    private partial void LogHandedBack(string stage);
    [LoggerMessage(EventId = 405, EventName = "stage_stopped", Level = LogLevel.Information, Message = "Stage {Stage} stopped: its job ended")]
    private partial void LogStoppedForJob(string stage);
    [LoggerMessage(EventId = 406, EventName = "infrastructure_error", Level = LogLevel.Warning, Message = "{ErrorKind}: {Error}; the task stays pending and will be retried")]
    private partial void LogInfrastructure(string errorKind, string error);
    [LoggerMessage(EventId = 407, EventName = "queue_redis_error", Level = LogLevel.Warning, Message = "Reading the queue failed: {Error}")]
    private partial void LogRedisError(string error);
    [LoggerMessage(EventId = 409, EventName = "stage_budget_stop", Level = LogLevel.Warning, Message = "Stage {Stage} stopped by the project's budget: {Reason}")]
    private partial void LogBudgetStop(string stage, string reason);
    [LoggerMessage(EventId = 410, EventName = "task_malformed", Level = LogLevel.Error, Message = "Queue entry {EntryId} is not a task; dead-lettered")]
    private partial void LogMalformed(string entryId);
    [LoggerMessage(EventId = 411, EventName = "task_lease_lost", Level = LogLevel.Warning,
        Message = "Stage {Stage} stopped: its queue entry {EntryId} was taken over by another consumer (this one's lease lapsed), which runs it now; nothing recorded here")]
    private partial void LogLeaseLost(string stage, string entryId);
    [LoggerMessage(EventId = 412, EventName = "task_duplicate", Level = LogLevel.Warning,
        Message = "Stage {Stage} dropped: a second copy of a task whose attempt runs under entry {HeldBy}")]
    private partial void LogDuplicate(string stage, string heldBy);
    [LoggerMessage(EventId = 408, EventName = "consumer_draining", Level = LogLevel.Information, Message = "Shutting down: waiting up to {GraceSeconds} s for {Count} task(s)")]
    private partial void LogDraining(int count, double graceSeconds);
}
