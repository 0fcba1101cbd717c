using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace AgentBus.Data;

/// <summary>
/// The services apply no migrations (AgentBus.Migrations does, as the owner role): they check that
/// the database has at least the newest script this build embeds. At start-up the gate waits for it
/// (in Kubernetes the migration Job may still be running, and may not have created the app role
/// yet), so nothing touches the schema before it is current; readiness (PostgresReadinessCheck)
/// says so if it ever is not.
/// </summary>
public sealed partial class SchemaVersion(NpgsqlDataSource dataSource, ILogger<SchemaVersion> logger) : IHostedService
{
    /// <summary>The newest embedded migration: what this build needs.</summary>
    public static readonly string Required = Migrator.Scripts().Last().Version;

    /// <summary>Null when current, else why not (no schema, or the version the database has).</summary>
    public static async Task<string?> ProblemAsync(NpgsqlDataSource dataSource, CancellationToken ct)
    {
        try
        {
            await using var command = dataSource.CreateCommand("SELECT max(version) FROM schema_migrations");
            var found = await command.ExecuteScalarAsync(ct) as string;
            return found is not null && string.CompareOrdinal(found, Required) >= 0
                ? null
                : $"schema {found ?? "empty"} is older than {Required}: run the migrations";
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UndefinedTable)
        {
            return $"no schema (needs {Required}): run the migrations";
        }
        // The migrations are running: the tables exist, the app role's grants (the last script) not yet.
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.InsufficientPrivilege)
        {
            return $"the app role has no rights on the schema yet (needs {Required}): the migrations are running or did not finish";
        }
    }

    public async Task StartAsync(CancellationToken ct)
    {
        for (var attempt = 1; ; attempt++)
        {
            string? problem;
            try
            {
                problem = await ProblemAsync(dataSource, ct);
            }
            catch (NpgsqlException e) when (e.IsTransient)
            {
                problem = "Postgres not reachable: " + e.Message;
            }
            // Until the migrations have run, the app role (or its password) may not exist yet.
            catch (PostgresException e) when (e.SqlState is PostgresErrorCodes.InvalidPassword or PostgresErrorCodes.InvalidAuthorizationSpecification)
            {
                problem = "cannot log in yet (the migrations create the role): " + e.MessageText;
            }
            if (problem is null)
            {
                return;
            }
            if (attempt % 5 == 1)
            {
                LogWaiting(problem);
            }
            await Task.Delay(TimeSpan.FromSeconds(1), ct);
        }
    }

    public Task StopAsync(CancellationToken ct) => Task.CompletedTask;

    [LoggerMessage(EventId = 102, EventName = "schema_waiting", Level = LogLevel.Warning, Message = "Waiting for the database schema: {Problem}")]
    private partial void LogWaiting(string problem);
}
