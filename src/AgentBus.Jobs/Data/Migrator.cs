using Microsoft.Extensions.Logging;
using Npgsql;

namespace AgentBus.Data;

/// <summary>
/// Applies the embedded Data/Migrations/*.sql in name order, each in its own transaction, under a
/// Postgres advisory lock, so runs that overlap apply each once. Run by AgentBus.Migrations (the
/// one-shot resource, a Job in Kubernetes), never by the services: it connects as an administrator
/// (a superuser, or a role with CREATEROLE that may grant to itself), makes sure the owner and app
/// roles exist, hands every object of schema public to the owner, and applies the scripts as the
/// owner (SET ROLE), so what they create is the owner's and the grants of 0009_roles.sql cover it.
/// </summary>
public sealed partial class Migrator(NpgsqlDataSource dataSource, ILogger<Migrator> logger)
{
    /// <summary><see cref="MigrateAsync"/>, waiting up to a minute for Postgres, which may still be
    /// starting (in Kubernetes the Job starts with the StatefulSet).</summary>
    public async Task RunAsync(string appRolePassword, string monitorRolePassword, CancellationToken ct)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await MigrateAsync(appRolePassword, monitorRolePassword, ct);
                return;
            }
            catch (NpgsqlException e) when (attempt < 60 && e.IsTransient)
            {
                LogRetry(e.Message, attempt);
                await Task.Delay(TimeSpan.FromSeconds(1), ct);
            }
        }
    }

    public async Task MigrateAsync(string appRolePassword, string monitorRolePassword, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        await Exec(connection, $"SELECT pg_advisory_lock({AdvisoryLocks.Migrations})", ct);
        try
        {
            await EnsureRolesAsync(connection, appRolePassword, monitorRolePassword, ct);
            await Exec(connection, $"SET ROLE {DatabaseRoles.Owner}", ct);
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
                // A script marked AsAdministrator (CREATE EXTENSION of an untrusted one) runs
                // without SET ROLE; the owner records it as for every other.
                var asAdministrator = sql.StartsWith(AsAdministrator, StringComparison.Ordinal);
                await using (var command = new NpgsqlCommand(asAdministrator ? $"RESET ROLE; {sql}\nSET ROLE {DatabaseRoles.Owner};" : sql, connection, transaction))
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
            await Exec(connection, "RESET ROLE", CancellationToken.None);
            await Exec(connection, $"SELECT pg_advisory_unlock({AdvisoryLocks.Migrations})", CancellationToken.None);
        }
    }

    /// <summary>The first line of a script that must run as the administrator, not the owner.</summary>
    public const string AsAdministrator = "-- as: administrator";

    /// <summary>
    /// The roles (cluster-wide, so created once and shared by every database of the server): the
    /// owner cannot log in (only SET ROLE reaches it); the app role logs in with the given password,
    /// set on every run so that changing the secret and re-running the migrations rotates it. The
    /// monitoring role (postgres_exporter) logs in too and is a member of pg_monitor: it reads
    /// statistics and settings, no table of ours. Objects
    /// an earlier version created as the administrator are handed to the owner, and nobody but the
    /// owner may create in schema public (Postgres before 15 let everyone).
    /// </summary>
    private static async Task EnsureRolesAsync(NpgsqlConnection connection, string appRolePassword, string monitorRolePassword, CancellationToken ct)
    {
        await Exec(connection, $"""
            DO $$
            BEGIN
              CREATE ROLE {DatabaseRoles.Owner} NOLOGIN;
            EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; -- another run created it meanwhile
            END $$;
            DO $$
            BEGIN
              CREATE ROLE {DatabaseRoles.App} LOGIN;
            EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; -- another run created it meanwhile
            END $$;
            DO $$
            BEGIN
              CREATE ROLE {DatabaseRoles.Monitor} LOGIN;
            EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; -- another run created it meanwhile
            END $$;
            GRANT pg_monitor TO {DatabaseRoles.Monitor};
            GRANT {DatabaseRoles.Owner} TO CURRENT_USER;
            REVOKE CREATE ON SCHEMA public FROM PUBLIC;
            GRANT USAGE, CREATE ON SCHEMA public TO {DatabaseRoles.Owner};
            GRANT USAGE ON SCHEMA public TO {DatabaseRoles.App};
            DO $$
            DECLARE r record;
            BEGIN
              FOR r IN SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                       WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
                         AND pg_get_userbyid(c.relowner) <> '{DatabaseRoles.Owner}'
                         AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype IN ('a', 'i', 'e'))
              LOOP
                EXECUTE format(CASE r.relkind WHEN 'S' THEN 'ALTER SEQUENCE %I OWNER TO {DatabaseRoles.Owner}'
                                              WHEN 'v' THEN 'ALTER VIEW %I OWNER TO {DatabaseRoles.Owner}'
                                              WHEN 'm' THEN 'ALTER MATERIALIZED VIEW %I OWNER TO {DatabaseRoles.Owner}'
                                              ELSE 'ALTER TABLE %I OWNER TO {DatabaseRoles.Owner}' END, r.relname);
              END LOOP;
            END $$;
            """, ct);
        await SetPasswordAsync(connection, DatabaseRoles.App, appRolePassword, ct);
        await SetPasswordAsync(connection, DatabaseRoles.Monitor, monitorRolePassword, ct);
    }

    private static async Task SetPasswordAsync(NpgsqlConnection connection, string role, string password, CancellationToken ct)
    {
        // The password as a literal quoted by the server (%L): DDL takes no parameters.
        await using var format = new NpgsqlCommand($"SELECT format('ALTER ROLE {role} LOGIN PASSWORD %L', $1::text)", connection);
        format.Parameters.AddWithValue(password);
        var alter = (string)(await format.ExecuteScalarAsync(ct))!;
        await Exec(connection, alter, ct);
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
