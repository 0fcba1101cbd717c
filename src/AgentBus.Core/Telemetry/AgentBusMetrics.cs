using System.Diagnostics.Metrics;

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
        Errors = _meter.CreateCounter<long>("agent_bus.errors",
            description: "Errors by component and error type.");
        DbQueryDuration = _meter.CreateHistogram("agent_bus.db.query.duration", "s",
            "Postgres query duration by query type.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = DbBuckets });
        DbConnectionsActive = _meter.CreateUpDownCounter<long>("agent_bus.db.connections.active",
            description: "Postgres connections currently checked out of the pool.");
        _meter.CreateObservableGauge("agent_bus.db.connections.max", () => DbConnectionsMax,
            description: "Maximum size of the Postgres connection pool.");
        _meter.CreateObservableGauge("agent_bus.ready", () => Ready ? 1 : 0,
            description: "1 when the service's readiness checks pass, else 0.");
    }

    /// <summary>Set by the readiness publisher; observed as agent_bus_ready.</summary>
    public bool Ready { get; set; }

    /// <summary>Set from the data source's connection string; observed as agent_bus_db_connections_max.</summary>
    public long DbConnectionsMax { get; set; }

    /// <summary>api, worker or gpu-agent: the value of the component label.</summary>
    public string Component { get; }

    public Counter<long> HttpRequests { get; }
    public Histogram<double> HttpRequestDuration { get; }
    public Counter<long> Errors { get; }
    public Histogram<double> DbQueryDuration { get; }
    public UpDownCounter<long> DbConnectionsActive { get; }

    public void RecordError(string errorType) =>
        Errors.Add(1, new("component", Component), new("error_type", errorType));

    public void Dispose() => _meter.Dispose();
}
