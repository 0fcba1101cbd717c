using AgentBus.Data;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace AgentBus.IntegrationTests.Pipeline;

[Collection(AppHostCollection.Name)]
public sealed class MigrationTests(AppHostFixture fixture)
{
    [Fact]
    public async Task Migrators_started_together_apply_each_script_exactly_once()
    {
        var admin = new NpgsqlConnectionStringBuilder(await fixture.PostgresConnectionStringAsync());
        var database = $"migrate_{Guid.NewGuid():N}";
        await using (var connection = new NpgsqlConnection(admin.ConnectionString))
        {
            await connection.OpenAsync();
            await new NpgsqlCommand($"CREATE DATABASE {database}", connection).ExecuteNonQueryAsync();
        }
        await using var dataSource = NpgsqlDataSource.Create(new NpgsqlConnectionStringBuilder(admin.ConnectionString) { Database = database }.ConnectionString);

        await Task.WhenAll(Enumerable.Range(0, 6).Select(_ => Task.Run(() => new Migrator(dataSource, NullLogger<Migrator>.Instance).MigrateAsync(CancellationToken.None))));

        await using var read = dataSource.CreateCommand("SELECT version FROM schema_migrations ORDER BY version");
        var applied = new List<string>();
        await using (var reader = await read.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                applied.Add(reader.GetString(0));
            }
        }
        Assert.Equal(Migrator.Scripts().Select(s => s.Version), applied);
        // Every table the scripts create, plus schema_migrations: derived, so a new migration needs no edit here.
        var declared = Migrator.Scripts().SelectMany(s => System.Text.RegularExpressions.Regex.Matches(s.Sql, @"CREATE TABLE (?:IF NOT EXISTS )?(\w+)").Select(m => m.Groups[1].Value))
            .Append("schema_migrations").Order(StringComparer.Ordinal);
        await using var tables = dataSource.CreateCommand("SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'");
        var existing = new List<string>();
        await using (var reader = await tables.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                existing.Add(reader.GetString(0));
            }
        }
        Assert.Equal(declared, existing.Order(StringComparer.Ordinal));
        Assert.Contains("job_routing", existing);
    }
}
