using AgentBus.Store;
using Microsoft.Extensions.Options;
using Npgsql;
using StackExchange.Redis;

namespace AgentBus.Worker.Retention;

/// <summary>
/// Runs the retention sweep (<see cref="RetentionSweep"/>) when the worker starts and every
/// Interval; one replica at a time sweeps (a Postgres advisory lock), the others skip.
/// </summary>
public sealed partial class RetentionSweeper(RetentionSweep sweep, IOptions<RetentionOptions> options, ILogger<RetentionSweeper> logger) : BackgroundService
{
    private readonly RetentionOptions _options = options.Value;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!_options.Enabled)
        {
            return;
        }
        using var timer = new PeriodicTimer(_options.Interval);
        do
        {
            try
            {
                if (await sweep.SweepAsync(_options.Policy, stoppingToken) is { } swept && swept.JobEvents + swept.ArtifactVersions + swept.DeadLetters + swept.WebhookDeliveries > 0)
                {
                    LogSwept(swept.JobEvents, swept.ArtifactVersions, swept.DeadLetters, swept.WebhookDeliveries);
                }
            }
            catch (Exception e) when (e is NpgsqlException or RedisException or RedisTimeoutException or TimeoutException)
            {
                // Either store down: what is due stays due; the next sweep deletes it.
                LogFailed(e.Message);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    [LoggerMessage(EventId = 430, EventName = "retention_swept", Level = LogLevel.Information,
        Message = "Retention sweep deleted {JobEvents} job event(s), {ArtifactVersions} superseded artifact version(s), {DeadLetters} dead letter(s), {WebhookDeliveries} webhook delivery(ies)")]
    private partial void LogSwept(long jobEvents, long artifactVersions, long deadLetters, long webhookDeliveries);

    [LoggerMessage(EventId = 431, EventName = "retention_sweep_failed", Level = LogLevel.Warning, Message = "Retention sweep skipped: {Error}")]
    private partial void LogFailed(string error);
}
