using AgentBus.Data;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace AgentBus.IntegrationTests.Pipeline;

[Collection(AppHostCollection.Name)]
public sealed class MigrationTests(AppHostFixture fixture)
{
    private async Task<NpgsqlConnectionStringBuilder> ServicesConnectionAsync() =>
        new(await fixture.ConnectionStringAsync(AgentBusAppFixture.AppConnectionString)) { Pooling = false };

    private static async Task<List<string>> ColumnAsync(NpgsqlDataSource dataSource, string sql)
    {
        await using var command = dataSource.CreateCommand(sql);
        await using var reader = await command.ExecuteReaderAsync();
        var values = new List<string>();
        while (await reader.ReadAsync())
        {
            values.Add(reader.GetString(0));
        }
        return values;
    }

    // Extension members (pg_stat_statements' views) belong to their extension, created by the administrator.
    private const string OwnersOfOurRelations = """
        SELECT DISTINCT pg_get_userbyid(relowner)::text FROM pg_class c WHERE relnamespace = 'public'::regnamespace
          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')
        """;

    [Fact]
    public async Task Migrators_started_together_apply_each_script_exactly_once_as_the_owner_role()
    {
        var admin = new NpgsqlConnectionStringBuilder(await fixture.PostgresConnectionStringAsync());
        var database = $"migrate_{Guid.NewGuid():N}";
        await using (var connection = new NpgsqlConnection(admin.ConnectionString))
        {
            await connection.OpenAsync();
            await new NpgsqlCommand($"CREATE DATABASE {database}", connection).ExecuteNonQueryAsync();
        }
        await using var dataSource = NpgsqlDataSource.Create(new NpgsqlConnectionStringBuilder(admin.ConnectionString) { Database = database }.ConnectionString);

        // The roles are the server's: the running services' and exporter's passwords are set again, not changed.
        var password = (await ServicesConnectionAsync()).Password!;
        var monitorPassword = new NpgsqlConnectionStringBuilder(await fixture.ConnectionStringAsync(AgentBusAppFixture.MonitorConnectionString)).Password!;
        await Task.WhenAll(Enumerable.Range(0, 6).Select(_ => Task.Run(() => new Migrator(dataSource, NullLogger<Migrator>.Instance).MigrateAsync(password, monitorPassword, CancellationToken.None))));

        Assert.Equal(Migrator.Scripts().Select(s => s.Version), await ColumnAsync(dataSource, "SELECT version FROM schema_migrations ORDER BY version"));
        // Every table the scripts create, plus schema_migrations: derived, so a new migration needs no edit here.
        var declared = Migrator.Scripts().SelectMany(s => System.Text.RegularExpressions.Regex.Matches(s.Sql, @"CREATE TABLE (?:IF NOT EXISTS )?(\w+)").Select(m => m.Groups[1].Value))
            .Append("schema_migrations").Order(StringComparer.Ordinal);
        // Tables only: pg_stat_statements' views are the extension's.
        var existing = await ColumnAsync(dataSource, "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'");
        Assert.Equal(declared, existing.Order(StringComparer.Ordinal));
        Assert.Contains("job_routing", existing);
        Assert.Equal([DatabaseRoles.Owner], await ColumnAsync(dataSource,
            OwnersOfOurRelations));
    }

    [Fact]
    public async Task The_one_shot_migrations_resource_exited_zero_with_the_schema_current_and_owned_by_the_owner_role()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var finished = await fixture.App.ResourceNotifications.WaitForResourceAsync(AgentBusAppFixture.Migrations,
            e => e.Snapshot.State?.Text == KnownResourceStates.Finished, cts.Token);
        Assert.Equal(0, finished.Snapshot.ExitCode);

        await using var dataSource = NpgsqlDataSource.Create(await fixture.PostgresConnectionStringAsync());
        Assert.Equal([SchemaVersion.Required], await ColumnAsync(dataSource, "SELECT max(version) FROM schema_migrations"));
        Assert.Equal([DatabaseRoles.Owner], await ColumnAsync(dataSource,
            OwnersOfOurRelations));
    }

    [Fact]
    public async Task A_service_that_starts_before_the_migrations_waits_for_its_login_and_the_schema_instead_of_failing()
    {
        // As in Kubernetes, where the pods start with the migration Job: the role's password is not set yet ...
        var services = await ServicesConnectionAsync();
        await using var noLogin = NpgsqlDataSource.Create(new NpgsqlConnectionStringBuilder(services.ConnectionString) { Password = "not-set-yet" }.ConnectionString);
        using (var wait = new CancellationTokenSource(TimeSpan.FromSeconds(3)))
        {
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => new SchemaVersion(noLogin, NullLogger<SchemaVersion>.Instance).StartAsync(wait.Token));
        }

        // ... or the database has no schema yet.
        var admin = new NpgsqlConnectionStringBuilder(await fixture.PostgresConnectionStringAsync());
        var database = $"unmigrated_{Guid.NewGuid():N}";
        await using (var connection = new NpgsqlConnection(admin.ConnectionString))
        {
            await connection.OpenAsync();
            await new NpgsqlCommand($"CREATE DATABASE {database}", connection).ExecuteNonQueryAsync();
        }
        await using var unmigrated = NpgsqlDataSource.Create(new NpgsqlConnectionStringBuilder(admin.ConnectionString) { Database = database }.ConnectionString);
        Assert.Contains("run the migrations", await SchemaVersion.ProblemAsync(unmigrated, CancellationToken.None));
        using (var wait = new CancellationTokenSource(TimeSpan.FromSeconds(3)))
        {
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => new SchemaVersion(unmigrated, NullLogger<SchemaVersion>.Instance).StartAsync(wait.Token));
        }

        // ... or the migrations are running: the tables exist, the app role's grants not yet.
        await using (var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(admin.ConnectionString) { Database = database }.ConnectionString))
        {
            await connection.OpenAsync();
            await new NpgsqlCommand("CREATE TABLE schema_migrations (version text PRIMARY KEY)", connection).ExecuteNonQueryAsync();
        }
        await using var ungranted = NpgsqlDataSource.Create(new NpgsqlConnectionStringBuilder(services.ConnectionString) { Database = database }.ConnectionString);
        Assert.Contains("no rights on the schema yet", await SchemaVersion.ProblemAsync(ungranted, CancellationToken.None));

        // Once the schema is current, start-up goes on at once.
        await using var current = NpgsqlDataSource.Create(services.ConnectionString);
        await new SchemaVersion(current, NullLogger<SchemaVersion>.Instance).StartAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Theory]
    [InlineData("CREATE TABLE intruder (id int)")]
    [InlineData("ALTER TABLE jobs ADD COLUMN intruder int")]
    [InlineData("DROP TABLE jobs")]
    [InlineData("TRUNCATE jobs")]
    [InlineData("CREATE INDEX intruder ON jobs (status)")]
    [InlineData("CREATE SCHEMA intruder")]
    public async Task The_services_role_cannot_change_the_schema(string statement)
    {
        var services = await ServicesConnectionAsync();
        Assert.Equal(DatabaseRoles.App, services.Username);
        await using var connection = new NpgsqlConnection(services.ConnectionString);
        await connection.OpenAsync();
        await using var transaction = await connection.BeginTransactionAsync();
        var error = await Assert.ThrowsAsync<PostgresException>(() => new NpgsqlCommand(statement, connection, transaction).ExecuteNonQueryAsync());
        // 42501 insufficient_privilege; altering or dropping another role's table says "must be owner" (42501 too).
        Assert.Equal(PostgresErrorCodes.InsufficientPrivilege, error.SqlState);
    }

    [Fact]
    public async Task The_services_connect_as_the_app_role_only()
    {
        // Readiness queries Postgres every few seconds, so each service holds a pooled connection.
        using (var api = fixture.Api())
        {
            await api.Http.GetAsync("/api/projects?limit=1");
        }
        // postgres-exporter connects when it is scraped, and only its health check scrapes it
        // here: an earlier test's Postgres restart may have closed its connection since.
        using (var exporter = new HttpClient { BaseAddress = fixture.App.GetEndpoint("postgres-exporter", "http") })
        {
            Assert.Contains("pg_up 1", await exporter.GetStringAsync("/metrics"));
        }
        await using var dataSource = NpgsqlDataSource.Create(await fixture.PostgresConnectionStringAsync());
        var database = (await ServicesConnectionAsync()).Database;
        // ... and postgres-exporter as the monitoring role, nobody as the administrator.
        Assert.Equal([DatabaseRoles.App, DatabaseRoles.Monitor], await ColumnAsync(dataSource,
            $"SELECT DISTINCT usename::text FROM pg_stat_activity WHERE datname = '{database}' AND backend_type = 'client backend' AND pid <> pg_backend_pid() ORDER BY 1"));
    }

    [Fact]
    public async Task The_services_role_owns_nothing_is_no_superuser_and_reads_and_writes_rows()
    {
        await using var dataSource = NpgsqlDataSource.Create((await ServicesConnectionAsync()).ConnectionString);
        Assert.Equal(["f f f"], await ColumnAsync(dataSource,
            "SELECT concat_ws(' ', rolsuper, rolcreaterole, rolcreatedb) FROM pg_roles WHERE rolname = current_user"));
        Assert.Equal(["0"], await ColumnAsync(dataSource,
            "SELECT count(*)::text FROM pg_class WHERE relowner = (SELECT oid FROM pg_roles WHERE rolname = current_user)"));
        await using var connection = await dataSource.OpenConnectionAsync();
        await using var transaction = await connection.BeginTransactionAsync();
        await new NpgsqlCommand("UPDATE jobs SET updated_at = updated_at WHERE false", connection, transaction).ExecuteNonQueryAsync();
        await new NpgsqlCommand("DELETE FROM jobs WHERE false", connection, transaction).ExecuteNonQueryAsync();
        await transaction.RollbackAsync();
    }
}
