using System.Collections.Concurrent;
using System.Diagnostics;
using System.Threading.Channels;
using AgentBus.Agents;
using AgentBus.Events;
using AgentBus.Jobs;
using AgentBus.Llm;
using AgentBus.Queue;
using AgentBus.Spend;
using AgentBus.Store;
using AgentBus.Telemetry;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;
using StackExchange.Redis;

namespace AgentBus.Consumer;

/// <summary>
/// Consumes one queue: up to Concurrency tasks at once, each acknowledged only after its result is
/// committed; leases renewed while a task runs and lapsed ones reclaimed from dead consumers;
/// failures retried with backoff, then dead-lettered; a canceled job stops its task at once; on
/// shutdown in-flight tasks finish within the grace period or go back to the queue.
/// </summary>
public sealed partial class TaskConsumer(
    TaskQueue queue, StageLedger ledger, JobQueries queries, IStageRunner runner, IConnectionMultiplexer redis, AgentBusMetrics metrics,
    IOptions<ConsumerOptions> consumerOptions, IOptions<QueueOptions> queueOptions, ILogger<TaskConsumer> logger,
    IStageExecutionScope? executionScope = null) : BackgroundService
{
    private readonly ConsumerOptions _options = consumerOptions.Value;
    private readonly QueueOptions _queue = queueOptions.Value;
    // host:pid:random, so an operator (or a fault test) can tell which process runs a stage.
    private readonly string _consumer = $"{Environment.MachineName}:{Environment.ProcessId}:{Guid.NewGuid().ToString("N")[..6]}";
    private readonly ConcurrentDictionary<string, InFlight> _inFlight = new();
    private readonly Channel<bool> _wake = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
    private readonly CancellationTokenSource _handBack = new();

    private int Capacity => Math.Min(_options.Concurrency, executionScope?.Capacity ?? int.MaxValue);

    private sealed record InFlight(Delivery Delivery, CancellationTokenSource JobStop, Task Work);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await WhenRedisAnswersAsync(() => queue.EnsureGroupAsync(_options.Queue), stoppingToken);
        var subscriber = redis.GetSubscriber();
        await subscriber.SubscribeAsync(TaskQueue.NotifyChannel(_options.Queue), (_, _) => _wake.Writer.TryWrite(true));
        await subscriber.SubscribeAsync(JobEventBus.ControlChannel, (_, message) => StopJob((string)message!));
        var housekeeping = HousekeepingAsync(stoppingToken);
        LogStarted(_options.Queue, _consumer, _options.Concurrency);

        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var free = Capacity - _inFlight.Count;
                var deliveries = free > 0 ? await queue.ReadAsync(_options.Queue, _consumer, free) : [];
                foreach (var delivery in deliveries)
                {
                    Start(delivery);
                }
                if (deliveries.Count == 0)
                {
                    using var idle = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
                    idle.CancelAfter(_options.IdlePoll);
                    await _wake.Reader.WaitToReadAsync(idle.Token).AsTask().ContinueWith(_ => _wake.Reader.TryRead(out var _), TaskScheduler.Default);
                }
            }
            catch (RedisServerException e) when (e.Message.StartsWith("NOGROUP", StringComparison.Ordinal))
            {
                // Redis lost its data (a restart without persistence): recreate the group and go on.
                LogRedisError(e.Message);
                await WhenRedisAnswersAsync(() => queue.EnsureGroupAsync(_options.Queue), stoppingToken);
            }
            catch (Exception e) when (e is RedisException or RedisTimeoutException)
            {
                LogRedisError(e.Message);
                await Task.Delay(TimeSpan.FromSeconds(1), stoppingToken).ContinueWith(_ => { }, TaskScheduler.Default);
            }
        }

        await ShutdownAsync();
        await housekeeping.ContinueWith(_ => { }, TaskScheduler.Default);
    }

    private void Start(Delivery delivery)
    {
        var jobStop = new CancellationTokenSource();
        var work = Task.Run(() => ProcessAsync(delivery, jobStop.Token));
        _inFlight[delivery.EntryId] = new InFlight(delivery, jobStop, work);
        _ = work.ContinueWith(done =>
        {
            _inFlight.TryRemove(delivery.EntryId, out _);
            jobStop.Dispose();
            _wake.Writer.TryWrite(true);
        }, TaskScheduler.Default);
    }

    private async Task ProcessAsync(Delivery delivery, CancellationToken jobStopped)
    {
        if (delivery.Task is not { } task)
        {
            await queue.DeadLetterAsync(delivery, "malformed queue entry");
            metrics.DeadLettered.Add(1, new KeyValuePair<string, object?>("queue_name", delivery.Queue));
            metrics.RecordError("malformed_task");
            Processed(delivery, "dead_lettered");
            LogMalformed(delivery.EntryId);
            return;
        }

        var parent = ActivityContext.TryParse(task.TraceParent, null, out var context) ? context : default;
        using var activity = AgentBusTracing.Source.StartActivity($"consume {task.Stage}", ActivityKind.Consumer, parent);
        activity?.SetTag("job.id", task.JobId).SetTag("project.id", task.ProjectId).SetTag("task.id", task.TaskId)
            .SetTag("messaging.system", "redis").SetTag("messaging.destination.name", delivery.Queue);
        using var scope = logger.BeginScope(new Dictionary<string, object?> { ["job_id"] = task.JobId, ["project_id"] = task.ProjectId, ["task_id"] = task.TaskId, ["stage"] = task.Stage });

        using var timeout = new CancellationTokenSource(_options.StageTimeout);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, jobStopped, _handBack.Token);
        var started = Stopwatch.GetTimestamp();
        StageWork? work = null;
        try
        {
            work = await ledger.BeginStageAsync(task, _consumer);
            // A batch is not canceled for one of its tasks: a stop that came meanwhile applies now.
            linked.Token.ThrowIfCancellationRequested();
            if (work is null)
            {
                await queue.AckAsync(delivery);
                Processed(delivery, "skipped");
                return;
            }
            if (work.Attempt > _queue.MaxAttempts)
            {
                await FailAsync(delivery, task, work, "attempts_exhausted", $"gave up after {work.Attempt - 1} attempts that never finished (crashes or lost leases)");
                return;
            }

            using var stage = AgentBusTracing.Source.StartActivity($"invoke_agent {work.Stage.AgentType}");
            stage?.SetTag("gen_ai.operation.name", "invoke_agent").SetTag("gen_ai.agent.name", work.Stage.AgentType)
                .SetTag("job.id", task.JobId).SetTag("project.id", task.ProjectId).SetTag("stage", task.Stage);
            var output = executionScope is null
                ? await runner.RunAsync(work, task.TaskId, linked.Token)
                : await executionScope.RunAsync(task, ct => runner.RunAsync(work, task.TaskId, ct), linked.Token);
            var committed = await ledger.CompleteStageAsync(task, output);
            await queue.AckAsync(delivery);
            Executed(work, committed ? "completed" : "discarded", started);
            Processed(delivery, committed ? "completed" : "skipped");
        }
        catch (OperationCanceledException) when (_handBack.IsCancellationRequested)
        {
            await ledger.RequeueAsync(task, CancellationToken.None);
            await queue.RequeueAsync(delivery);
            Processed(delivery, "handed_back");
            LogHandedBack(task.Stage);
        }
        catch (OperationCanceledException) when (jobStopped.IsCancellationRequested)
        {
            await queue.AckAsync(delivery);
            if (work is not null)
            {
                Executed(work, "canceled", started);
            }
            Processed(delivery, "canceled");
            LogStoppedForJob(task.Stage);
        }
        catch (BudgetExceededException e) when (work is not null)
        {
            metrics.RecordError(BudgetExceededException.Code);
            await ledger.StopForBudgetAsync(task, e.Message, CancellationToken.None);
            await queue.AckAsync(delivery);
            Executed(work, "budget_exceeded", started);
            Processed(delivery, "budget_stopped");
            LogBudgetStop(task.Stage, e.Message);
        }
        catch (Exception e) when (work is not null && !Outage.Is(e))
        {
            var provider = LlmProviderException.Find(e);
            var (code, message) = timeout.IsCancellationRequested
                ? ("stage_timeout", $"stage exceeded its timeout of {_options.StageTimeout}")
                : (provider?.ErrorType ?? ErrorType(e), provider?.Message ?? e.Message);
            Executed(work, "failed", started);
            await FailAsync(delivery, task, work, code, message, retryable: provider?.Retryable ?? e is not ContextWindowExceededException);
        }
        catch (Exception e) when (Outage.Is(e))
        {
            // Infrastructure trouble: leave the entry pending; its lease lapses and it is retried.
            metrics.RecordError(e is NpgsqlException ? "postgres_unavailable" : "redis_unavailable");
            LogInfrastructure(e.GetType().Name, e.Message);
        }
    }

    private async Task FailAsync(Delivery delivery, TaskMessage task, StageWork work, string code, string message, bool retryable = true)
    {
        metrics.RecordError(code);
        var final = !retryable || work.Attempt >= _queue.MaxAttempts;
        await ledger.FailAttemptAsync(task, code, message, final, CancellationToken.None);
        if (final)
        {
            await queue.DeadLetterAsync(delivery, $"{code}: {message}");
            metrics.DeadLettered.Add(1, new KeyValuePair<string, object?>("queue_name", delivery.Queue));
            Processed(delivery, "dead_lettered");
            LogDeadLettered(task.Stage, work.Attempt, code, message);
        }
        else
        {
            var delay = _queue.RetryDelay(work.Attempt);
            await queue.RetryLaterAsync(delivery, delay);
            Processed(delivery, "retried");
            LogRetry(task.Stage, work.Attempt, code, message, delay.TotalSeconds);
        }
    }

    /// <summary>Renews leases of running tasks, reclaims lapsed ones, promotes due retries, refreshes gauges.</summary>
    private async Task HousekeepingAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(_queue.Lease / 3);
        while (await timer.WaitForNextTickAsync(stoppingToken).AsTask().ContinueWith(t => t.Status == TaskStatus.RanToCompletion && t.Result, TaskScheduler.Default))
        {
            try
            {
                await queue.RenewAsync(_options.Queue, _consumer, _inFlight.Keys.ToArray());
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
                metrics.JobsActive = await queries.CountActiveJobsAsync(stoppingToken);
            }
            catch (Exception e) when (Outage.Is(e))
            {
                LogInfrastructure(e.GetType().Name, e.Message);
            }
        }
    }

    private async Task ShutdownAsync()
    {
        var running = _inFlight.Values.Select(f => f.Work).ToArray();
        if (running.Length == 0)
        {
            return;
        }
        LogDraining(running.Length, _options.ShutdownGrace.TotalSeconds);
        var finished = await Task.WhenAll(running).WaitAsync(_options.ShutdownGrace).ContinueWith(t => t.IsCompletedSuccessfully, TaskScheduler.Default);
        if (!finished)
        {
            await _handBack.CancelAsync();
            await Task.WhenAll(_inFlight.Values.Select(f => f.Work)).WaitAsync(TimeSpan.FromSeconds(5)).ContinueWith(_ => { }, TaskScheduler.Default);
        }
    }

    private void StopJob(string jobId)
    {
        foreach (var flight in _inFlight.Values.Where(f => f.Delivery.Task?.JobId.ToString() == jobId))
        {
            flight.JobStop.Cancel();
        }
    }

    private static async Task WhenRedisAnswersAsync(Func<Task> action, CancellationToken ct)
    {
        while (true)
        {
            try
            {
                await action();
                return;
            }
            catch (Exception e) when (Outage.Is(e) && !ct.IsCancellationRequested)
            {
                await Task.Delay(TimeSpan.FromSeconds(1), ct);
            }
        }
    }

    private void Executed(StageWork work, string status, long started)
    {
        metrics.AgentExecutions.Add(1, new("agent_type", work.Stage.AgentType), new("status", status));
        metrics.AgentExecutionDuration.Record(Stopwatch.GetElapsedTime(started).TotalSeconds, new KeyValuePair<string, object?>("agent_type", work.Stage.AgentType));
    }

    private void Processed(Delivery delivery, string status) =>
        metrics.TasksProcessed.Add(1, new("queue_name", delivery.Queue), new("status", status));

    private static string ErrorType(Exception e) => e switch
    {
        AgentOutputException => "bad_output",
        ContextWindowExceededException => "context_exceeded",
        OfflineProviderException => "provider_error",
        HttpRequestException => "provider_unreachable",
        _ => "stage_error",
    };

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
    [LoggerMessage(EventId = 408, EventName = "consumer_draining", Level = LogLevel.Information, Message = "Shutting down: waiting up to {GraceSeconds} s for {Count} task(s)")]
    private partial void LogDraining(int count, double graceSeconds);
}
