using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace AgentBus.Data;

/// <summary>
/// Applies the embedded Data/Migrations/*.sql in name order at start-up, each in its own
/// transaction, under a Postgres advisory lock: services starting together apply each once.
/// A service does not start (and so is never ready) until its schema is current.
/// </summary>
public sealed partial class Migrator(NpgsqlDataSource dataSource, ILogger<Migrator> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken ct)
    {
        // Postgres may still be coming up when a service starts under Kubernetes.
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await MigrateAsync(ct);
                return;
            }
            catch (NpgsqlException e) when (attempt < 30 && e.IsTransient)
            {
                LogRetry(e.Message, attempt);
                await Task.Delay(TimeSpan.FromSeconds(1), ct);
            }
        }
    }

    public Task StopAsync(CancellationToken ct) => Task.CompletedTask;

    public async Task MigrateAsync(CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        await Exec(connection, $"SELECT pg_advisory_lock({AdvisoryLocks.Migrations})", ct);
        try
        {
            await Exec(connection, "CREATE TABLE IF NOT EXISTS schema_migrations (version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())", ct);
            var applied = new HashSet<string>();
            await using (var read = new NpgsqlCommand("SELECT version FROM schema_migrations", connection))
            await using (var reader = await read.ExecuteReaderAsync(ct))
            {
                while (await reader.ReadAsync(ct))
                {
                    applied.Add(reader.GetString(0));
                }
            }

            foreach (var (version, sql) in Scripts())
            {
                if (applied.Contains(version))
                {
                    continue;
                }
                await using var transaction = await connection.BeginTransactionAsync(ct);
                await using (var command = new NpgsqlCommand(sql, connection, transaction))
                {
                    await command.ExecuteNonQueryAsync(ct);
                }
                await using (var record = new NpgsqlCommand("INSERT INTO schema_migrations (version) VALUES ($1)", connection, transaction))
                {
                    record.Parameters.AddWithValue(version);
                    await record.ExecuteNonQueryAsync(ct);
                }
                await transaction.CommitAsync(ct);
                LogApplied(version);
            }
        }
        finally
        {
            await Exec(connection, $"SELECT pg_advisory_unlock({AdvisoryLocks.Migrations})", CancellationToken.None);
        }
    }

    /// <summary>The embedded scripts, by version (file name without .sql), in order.</summary>
    public static IEnumerable<(string Version, string Sql)> Scripts()
    {
        var assembly = typeof(Migrator).Assembly;
        const string prefix = "AgentBus.Data.Migrations.";
        foreach (var name in assembly.GetManifestResourceNames().Where(n => n.StartsWith(prefix, StringComparison.Ordinal)).Order(StringComparer.Ordinal))
        {
            using var stream = assembly.GetManifestResourceStream(name)!;
            using var reader = new StreamReader(stream);
            yield return (name[prefix.Length..^".sql".Length], reader.ReadToEnd());
        }
    }

    private static async Task Exec(NpgsqlConnection connection, string sql, CancellationToken ct)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync(ct);
    }

    [LoggerMessage(EventId = 100, EventName = "migration_applied", Level = LogLevel.Information, Message = "Applied migration {Version}")]
    private partial void LogApplied(string version);

    [LoggerMessage(EventId = 101, EventName = "migration_retry", Level = LogLevel.Warning, Message = "Postgres not reachable yet ({Error}), attempt {Attempt}")]
    private partial void LogRetry(string error, int attempt);
}
