using System.Diagnostics;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// What /health/ready answers: the health checks' report, shared for a second by every probe
/// that asks (and by those arriving while a run is under way), so that a flood of anonymous
/// probes costs one run of the checks per second, not one per request.
/// </summary>
public sealed class ReadinessProbe(HealthCheckService health)
{
    private static readonly TimeSpan Fresh = TimeSpan.FromSeconds(1);
    private readonly Lock _lock = new();
    private Task<HealthReport>? _report;
    private long _startedAt;

    public Task<HealthReport> ReportAsync()
    {
        lock (_lock)
        {
            if (_report is null || (_report.IsCompleted && Stopwatch.GetElapsedTime(_startedAt) > Fresh))
            {
                // Not the request's token: the run is shared; each check has its own timeout.
                _report = health.CheckHealthAsync(CancellationToken.None);
                _startedAt = Stopwatch.GetTimestamp();
            }
            return _report;
        }
    }
}
