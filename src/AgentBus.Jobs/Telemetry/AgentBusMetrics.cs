using System.Diagnostics;
using System.Diagnostics.Metrics;
using AgentBus.Gpu;

namespace AgentBus.Telemetry;

/// <summary>
/// Every Agent Bus metric, defined once. Instrument names use dots; the Prometheus exporter turns
/// them into the contract's names (dots to underscores, counters get _total, unit "s" gets _seconds).
/// No label ever takes an id: label values come from small fixed sets.
/// </summary>
public sealed class AgentBusMetrics : IDisposable
{
    public const string MeterName = "AgentBus";

    // Seconds-based buckets; the OpenTelemetry default buckets are millisecond-shaped.
    // 0.2 is there so the SLO "99% of requests under 200 ms" can be computed from a bucket.
    public static readonly double[] HttpBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.25, 0.5, 1, 2.5, 5, 10];
    public static readonly double[] DbBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];
    public static readonly double[] JobBuckets = [1, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600];
    public static readonly double[] AgentBuckets = [1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600];

    private readonly Meter _meter;

    public AgentBusMetrics(IMeterFactory meterFactory, string component)
    {
        Component = component;
        _meter = meterFactory.Create(MeterName);

        HttpRequests = _meter.CreateCounter<long>("agent_bus.http.requests",
            description: "HTTP requests served, by method, route template and status code.");
        HttpRequestDuration = _meter.CreateHistogram("agent_bus.http.request.duration", "s",
            "HTTP request duration by method and route template.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = HttpBuckets });
        RateLimited = _meter.CreateCounter<long>("agent_bus.http.rate_limited",
            description: "Requests refused with 429, by reason: key (an authenticated caller's bucket) or address (an anonymous client's).");
        Errors = _meter.CreateCounter<long>("agent_bus.errors",
            description: "Errors by component and error type.");
        DbQueryDuration = _meter.CreateHistogram("agent_bus.db.query.duration", "s",
            "Postgres query duration by query type.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = DbBuckets });
        DbConnectionsActive = _meter.CreateUpDownCounter<long>("agent_bus.db.connections.active",
            description: "Postgres connections currently checked out of the pool.");

        JobsCreated = _meter.CreateCounter<long>("agent_bus.jobs.created", description: "Jobs created.");
        JobsCompleted = _meter.CreateCounter<long>("agent_bus.jobs.completed",
            description: "Jobs that reached a final status (completed, failed, canceled, rejected).");
        JobDuration = _meter.CreateHistogram("agent_bus.job.duration", "s", "Time from job creation to its final status.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = JobBuckets });
        _meter.CreateObservableGauge("agent_bus.jobs.active",
            () => JobsActive is { } active ? [new Measurement<long>(active)] : Array.Empty<Measurement<long>>(),
            description: "Jobs queued, running or waiting for approval (read from Postgres by the one process that holds the reporter lease).");
        _meter.CreateObservableGauge("agent_bus.events.listened_jobs", () => ListenedJobs,
            description: "Jobs (and the all-jobs feed) that this process holds live-event listeners for: it falls back when streams close.");
        AgentExecutions = _meter.CreateCounter<long>("agent_bus.agent.executions",
            description: "Agent runs by agent type and outcome.");
        AgentExecutionDuration = _meter.CreateHistogram("agent_bus.agent.execution.duration", "s", "Agent run duration by agent type.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = AgentBuckets });
        LlmCalls = _meter.CreateCounter<long>("agent_bus.agent.llm.calls", description: "Model calls by agent type and provider.");
        LlmTokens = _meter.CreateCounter<long>("agent_bus.agent.llm.tokens",
            description: "Tokens by agent type, provider and type (input, output, cache_read, cache_write).");
        LlmCost = _meter.CreateCounter<double>("agent_bus.agent.llm.cost_usd",
            description: "Model spend in US dollars by agent type, provider and model (priced calls only).");
        LlmCostUnknown = _meter.CreateCounter<long>("agent_bus.agent.llm.cost_unknown",
            description: "Model calls whose cost is unknown because the model has no price.");
        LlmCallsRefused = _meter.CreateCounter<long>("agent_bus.agent.llm.calls_refused",
            description: "Model calls not made because they could pass a limit, by reason (budget: the project's; daily_spend_cap: everyone's today).");
        _meter.CreateObservableGauge("agent_bus.agent.llm.spend_today_usd", () => LlmSpendTodayUsd,
            description: "Model spend of every project today (UTC), in US dollars, read from Postgres: what the daily spend cap is checked against.");
        _meter.CreateObservableGauge("agent_bus.agent.llm.daily_cap_usd",
            () => LlmDailyCapUsd is { } cap ? [new Measurement<double>(cap)] : Array.Empty<Measurement<double>>(),
            description: "The configured daily spend cap in US dollars (no series when there is none).");
        TasksProcessed = _meter.CreateCounter<long>("agent_bus.worker.tasks.processed",
            description: "Queue tasks handled, by queue and outcome (completed, skipped, retried, dead_lettered, handed_back).");
        DeadLettered = _meter.CreateCounter<long>("agent_bus.queue.dead_lettered", description: "Tasks moved to a dead-letter stream.");
        Reconciled = _meter.CreateCounter<long>("agent_bus.queue.reconciled",
            description: "Stage runs queued or running in Postgres whose task was in no queue (Redis lost it), re-enqueued through the outbox.");
        RetentionDeleted = _meter.CreateCounter<long>("agent_bus.retention.deleted",
            description: "What the retention sweep deleted, by kind (job_events, artifact_versions, dead_letters).");
        WebhookDeliveries = _meter.CreateCounter<long>("agent_bus.webhook.deliveries",
            description: "Webhook delivery attempts by event and outcome (delivered, failed_retrying, refused: the address was not allowed, dead: the last one).");
        _meter.CreateObservableGauge("agent_bus.webhook.deliveries.pending",
            () => WebhookBacklog is { } b ? [new Measurement<long>(b.Pending)] : Array.Empty<Measurement<long>>(),
            description: "Webhook deliveries not yet delivered or dead (read from Postgres by the worker's dispatcher; every replica reads the same).");
        _meter.CreateObservableGauge<double>("agent_bus.webhook.oldest_due",
            () => WebhookBacklog is { } b ? [new Measurement<double>(b.OldestDueSeconds)] : Array.Empty<Measurement<double>>(), "s", "How long the most overdue webhook delivery has been due (0 when none is late).");
        _meter.CreateObservableGauge("agent_bus.worker.queue.size",
            () => QueueSizes.Select(q => new Measurement<long>(q.Value, new KeyValuePair<string, object?>("queue_name", q.Key))),
            description: "Tasks waiting, in flight or waiting to retry, by queue.");
        _meter.CreateObservableGauge("agent_bus.db.connections.max", () => DbConnectionsMax,
            description: "Maximum size of the Postgres connection pool.");
        _meter.CreateObservableGauge("agent_bus.ready", () => Ready ? 1 : 0,
            description: "1 when the service's readiness checks pass, else 0.");
        (GpuTasks, GpuTaskDuration) = CreateGpuInstruments();
    }

    /// <summary>Set by the readiness publisher; observed as agent_bus_ready.</summary>
    public bool Ready { get; set; }

    /// <summary>Set from the data source's connection string; observed as agent_bus_db_connections_max.</summary>
    public long DbConnectionsMax { get; set; }

    /// <summary>
    /// Refreshed from Postgres by the consumer that holds the <see cref="GaugeReporterLease"/>; null (no
    /// series) in every other process. Observed as agent_bus_jobs_active.
    /// </summary>
    public long? JobsActive { get; set; }

    /// <summary>Refreshed from Postgres by the consumers (and at every model call); observed as agent_bus_agent_llm_spend_today_usd.</summary>
    public double LlmSpendTodayUsd { get; set; }

    /// <summary>Set by the consumers from AgentBus:Llm:DailySpendCapUsd; observed as agent_bus_agent_llm_daily_cap_usd.</summary>
    public double? LlmDailyCapUsd { get; set; }

    /// <summary>Set by the event bus as listeners come and go.</summary>
    public int ListenedJobs { get; set; }

    /// <summary>Refreshed from Redis by the worker; observed as agent_bus_worker_queue_size.</summary>
    public System.Collections.Concurrent.ConcurrentDictionary<string, long> QueueSizes { get; } = new();

    public Counter<long> JobsCreated { get; }
    public Counter<long> JobsCompleted { get; }
    public Histogram<double> JobDuration { get; }
    public Counter<long> AgentExecutions { get; }
    public Histogram<double> AgentExecutionDuration { get; }
    public Counter<long> LlmCalls { get; }
    public Counter<long> LlmCallsRefused { get; }
    public Counter<long> LlmTokens { get; }
    public Counter<double> LlmCost { get; }
    public Counter<long> LlmCostUnknown { get; }
    public Counter<long> TasksProcessed { get; }
    public Counter<long> DeadLettered { get; }
    public Counter<long> Reconciled { get; }
    public Counter<long> RetentionDeleted { get; }
    public Counter<long> WebhookDeliveries { get; }

    /// <summary>Refreshed from Postgres by the webhook dispatcher; null (no series) elsewhere.</summary>
    public (long Pending, double OldestDueSeconds)? WebhookBacklog { get; set; }

    /// <summary>api, worker or gpu-agent: the value of the component label.</summary>
    public string Component { get; }

    public Counter<long> HttpRequests { get; }
    public Histogram<double> HttpRequestDuration { get; }
    public Counter<long> RateLimited { get; }
    public Counter<long> Errors { get; }
    public Histogram<double> DbQueryDuration { get; }
    public UpDownCounter<long> DbConnectionsActive { get; }

    public void RecordError(string errorType) =>
        Errors.Add(1, new("component", Component), new("error_type", errorType));

    public void Dispose() => _meter.Dispose();

    // ---- GPUs (gpu-agent) ------------------------------------------------------------------------
    // Gauges read Gpus, the snapshot the gpu-agent refreshes every few seconds; other services leave
    // it null and export none of them. Units map to the names the dashboards use: By -> _bytes,
    // Cel -> _celsius, W -> _watts; the exporter adds nothing for "1", so _ratio is in the name.

    public static readonly double[] GpuTaskBuckets = [0.1, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600];

    /// <summary>The node's GPUs as last read; observed as agent_bus_gpu_*.</summary>
    public GpuSnapshot? Gpus { get; set; }

    /// <summary>Stages run on a GPU, by node, gpu index, uuid and status (completed, failed, interrupted).</summary>
    public Counter<long> GpuTasks { get; }
    public Histogram<double> GpuTaskDuration { get; }

    private (Counter<long>, Histogram<double>) CreateGpuInstruments()
    {
        _meter.CreateObservableGauge("agent_bus.gpu.count",
            () => Gpus is { } s ? [new Measurement<int>(s.Gpus.Count, new KeyValuePair<string, object?>("node", s.Node))] : Array.Empty<Measurement<int>>(),
            description: "GPUs the gpu-agent sees on its node (0 when none or no driver).");
        GpuGauge("agent_bus.gpu.utilization.ratio", "1", "GPU utilization over the driver's last sample period, 0 to 1.", g => g.UtilizationRatio, withName: true);
        GpuGauge("agent_bus.gpu.memory.used", "By", "GPU memory in use.", g => g.MemoryUsedBytes);
        GpuGauge("agent_bus.gpu.memory.total", "By", "GPU memory installed.", g => g.MemoryTotalBytes);
        GpuGauge("agent_bus.gpu.temperature", "Cel", "GPU core temperature.", g => g.TemperatureCelsius);
        GpuGauge("agent_bus.gpu.power", "W", "GPU power draw.", g => g.PowerWatts);
        return (
            _meter.CreateCounter<long>("agent_bus.gpu.tasks", description: "Stages run on each GPU, by outcome (job distribution across GPUs)."),
            _meter.CreateHistogram("agent_bus.gpu.task.duration", "s", "Time a stage held its GPU, by node and GPU.",
                advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = GpuTaskBuckets }));
    }

    private void GpuGauge(string name, string unit, string description, Func<GpuReading, double?> value, bool withName = false) =>
        _meter.CreateObservableGauge(name, () =>
            Gpus is not { } s ? [] : s.Gpus.Where(g => value(g) is not null).Select(g =>
            {
                var tags = new TagList { { "node", s.Node }, { "gpu", g.Index.ToString(System.Globalization.CultureInfo.InvariantCulture) }, { "uuid", g.Uuid } };
                if (withName)
                {
                    tags.Add("name", g.Name);
                }
                return new Measurement<double>(value(g)!.Value, tags);
            }), unit, description);
}
