using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace AgentBus.Queue;

/// <summary>Sweeps the outbox for tasks whose immediate hand-off failed (Redis down, process died).</summary>
public sealed partial class OutboxRelay(Outbox outbox, ILogger<OutboxRelay> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                while (await outbox.FlushAsync(stoppingToken) > 0)
                {
                }
            }
            catch (NpgsqlException e)
            {
                LogPostgresDown(e.Message);
            }
        }
    }

    [LoggerMessage(EventId = 201, EventName = "outbox_postgres_unavailable", Level = LogLevel.Warning, Message = "Outbox relay paused: Postgres unavailable ({Error})")]
    private partial void LogPostgresDown(string error);
}
