using System.Collections.Concurrent;
using System.Diagnostics;
using System.Threading.Channels;
using AgentBus.Agents;
using AgentBus.Data;
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
/// committed; leases renewed while a task runs (through the shutdown drain too) and lapsed ones
/// reclaimed from dead consumers; a task whose lease another consumer took over stops at once and
/// records nothing (its attempt is fenced in Postgres as well); a second copy of a task that is
/// running elsewhere is dropped; failures retried with backoff, then dead-lettered; a canceled job
/// stops its task at once; on shutdown in-flight tasks finish within the grace period or go back to
/// the queue.
/// </summary>
public sealed partial class TaskConsumer(
    TaskQueue queue, StageLedger ledger, JobQueries queries, LlmSpend spend, IStageRunner runner, IConnectionMultiplexer redis, AgentBusMetrics metrics,
    GaugeReporterLease reporter, IOptions<ConsumerOptions> consumerOptions, IOptions<QueueOptions> queueOptions, IOptions<LlmOptions> llmOptions, ILogger<TaskConsumer> logger,
    IStageExecutionScope? executionScope = null) : BackgroundService
{
    private readonly ConsumerOptions _options = consumerOptions.Value;
    private readonly QueueOptions _queue = queueOptions.Value;
    // host:pid:random, so an operator (or a fault test) can tell which process runs a stage.
    private readonly string _consumer = $"{Environment.MachineName}:{Environment.ProcessId}:{Guid.NewGuid().ToString("N")[..6]}";
    private readonly ConcurrentDictionary<string, InFlight> _inFlight = new();
    private readonly Channel<bool> _wake = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
    private readonly CancellationTokenSource _handBack = new();
    // Renewal outlives the host's stopping token: it ends only when no task is left in flight.
    private readonly CancellationTokenSource _renewalStop = new();

    /// <summary>How long tasks handed back after the grace period get to record it.</summary>
    public static readonly TimeSpan HandBackAllowance = TimeSpan.FromSeconds(5);

    private int Capacity => Math.Min(_options.Concurrency, executionScope?.Capacity ?? int.MaxValue);

    /// <summary>A task being run: JobStop when its job ends, LeaseLost when another consumer took its entry.</summary>
    private sealed record InFlight(Delivery Delivery, CancellationTokenSource JobStop, CancellationTokenSource LeaseLost, Task Work);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await WhenRedisAnswersAsync(() => queue.EnsureGroupAsync(_options.Queue), stoppingToken);
        var subscriber = redis.GetSubscriber();
        await subscriber.SubscribeAsync(TaskQueue.NotifyChannel(_options.Queue), (_, _) => _wake.Writer.TryWrite(true));
        await subscriber.SubscribeAsync(JobEventBus.ControlChannel, (_, message) => StopJob((string)message!));
        // Refusals exist as zero series from the start, so their alert has data before the first one.
        foreach (var reason in new[] { StageRunner.BudgetLimit, StageRunner.DailySpendCap })
        {
            metrics.LlmCallsRefused.Add(0, new KeyValuePair<string, object?>("reason", reason));
        }
        var housekeeping = HousekeepingAsync(stoppingToken);
        var renewal = RenewLeasesAsync();
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
        await _renewalStop.CancelAsync();
        await Task.WhenAll(housekeeping, renewal).ContinueWith(_ => { }, TaskScheduler.Default);
        await HandOverGaugesAsync();
    }

    private void Start(Delivery delivery)
    {
        var (jobStop, leaseLost) = (new CancellationTokenSource(), new CancellationTokenSource());
        var work = Task.Run(() => ProcessAsync(delivery, jobStop.Token, leaseLost.Token));
        _inFlight[delivery.EntryId] = new InFlight(delivery, jobStop, leaseLost, work);
        _ = work.ContinueWith(done =>
        {
            _inFlight.TryRemove(delivery.EntryId, out _);
            jobStop.Dispose();
            leaseLost.Dispose();
            _wake.Writer.TryWrite(true);
        }, TaskScheduler.Default);
    }

    private async Task ProcessAsync(Delivery delivery, CancellationToken jobStopped, CancellationToken leaseLost)
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

        // A stage a person released runs in that person's request's trace (its parent) and links
        // to the request that created the job.
        var parent = ActivityContext.TryParse(task.TraceParent, null, out var context) ? context : default;
        ActivityLink[] links = ActivityContext.TryParse(task.JobTraceParent, null, out var creation) && creation.TraceId != parent.TraceId
            ? [new ActivityLink(creation)] : [];
        using var activity = AgentBusTracing.Source.StartActivity($"consume {task.Stage}", ActivityKind.Consumer, parent, links: links);
        activity?.SetTag("job.id", task.JobId).SetTag("project.id", task.ProjectId).SetTag("task.id", task.TaskId)
            .SetTag("messaging.system", "redis").SetTag("messaging.destination.name", delivery.Queue);
        using var scope = logger.BeginScope(new Dictionary<string, object?> { ["job_id"] = task.JobId, ["project_id"] = task.ProjectId, ["task_id"] = task.TaskId, ["stage"] = task.Stage });

        using var timeout = new CancellationTokenSource(_options.StageTimeout);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, jobStopped, leaseLost, _handBack.Token);
        var started = Stopwatch.GetTimestamp();
        StageWork? work = null;
        try
        {
            var lease = TaskQueue.LeaseOf(delivery);
            var start = await ledger.BeginStageAsync(task, _consumer, lease);
            if (start.HeldBy is { } held)
            {
                // Another entry of this task runs the stage now (the outbox relay or the reconciler
                // sent it twice): this copy is dropped, unless that entry is gone from Redis.
                if (await queue.IsPendingAsync(held))
                {
                    await queue.AckAsync(delivery, _consumer);
                    Processed(delivery, "duplicate");
                    LogDuplicate(task.Stage, held);
                    return;
                }
                start = await ledger.BeginStageAsync(task, _consumer, lease, takeOver: true);
            }
            work = start.Work;
            // A batch is not canceled for one of its tasks: a stop that came meanwhile applies now.
            linked.Token.ThrowIfCancellationRequested();
            if (work is null)
            {
                await queue.AckAsync(delivery, _consumer);
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
            var committed = await ledger.CompleteStageAsync(task, work.Attempt, output);
            await queue.AckAsync(delivery, _consumer);
            Executed(work, committed ? "completed" : "discarded", started);
            Processed(delivery, committed ? "completed" : "skipped");
        }
        catch (Exception e) when (e is AttemptSupersededException || (e is OperationCanceledException && leaseLost.IsCancellationRequested))
        {
            // Another consumer runs this task now: it records the result, this one records nothing.
            if (work is not null)
            {
                Executed(work, "superseded", started);
            }
            Processed(delivery, "lease_lost");
            LogLeaseLost(task.Stage, delivery.EntryId);
        }
        catch (OperationCanceledException) when (_handBack.IsCancellationRequested)
        {
            await ledger.RequeueAsync(task, work?.Attempt ?? 0, CancellationToken.None);
            await queue.RequeueAsync(delivery);
            Processed(delivery, "handed_back");
            LogHandedBack(task.Stage);
        }
        catch (OperationCanceledException) when (jobStopped.IsCancellationRequested)
        {
            await queue.AckAsync(delivery, _consumer);
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
            await ledger.StopForBudgetAsync(task, work.Attempt, e.Message, CancellationToken.None);
            await queue.AckAsync(delivery, _consumer);
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
        if (!await ledger.FailAttemptAsync(task, work.Attempt, code, message, final, CancellationToken.None)
            && await queue.OwnerAsync(delivery) is { } owner && owner != _consumer)
        {
            Processed(delivery, "lease_lost");
            LogLeaseLost(task.Stage, delivery.EntryId);
            return;
        }
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
            await Task.WhenAll(_inFlight.Values.Select(f => f.Work)).WaitAsync(HandBackAllowance).ContinueWith(_ => { }, TaskScheduler.Default);
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
}
