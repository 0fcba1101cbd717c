using System.Data;
using System.Diagnostics;
using AgentBus.Telemetry;
using Dapper;
using Npgsql;

namespace AgentBus.Data;

/// <summary>
/// Postgres access with the metrics every query owes: agent_bus_db_query_duration_seconds by
/// query type and agent_bus_db_connections_active. Dapper maps snake_case columns.
/// </summary>
public sealed class Database(NpgsqlDataSource dataSource, AgentBusMetrics metrics)
{
    static Database() => DefaultTypeMap.MatchNamesWithUnderscores = true;

    public async Task<T> RunAsync<T>(string queryType, Func<NpgsqlConnection, Task<T>> work, CancellationToken ct)
    {
        await using var connection = await OpenAsync(ct);
        return await TimedAsync(queryType, () => work(connection.Connection));
    }

    /// <summary>Runs <paramref name="work"/> in one transaction, committed when it returns.</summary>
    public async Task<T> InTransactionAsync<T>(string queryType, Func<NpgsqlConnection, NpgsqlTransaction, Task<T>> work, CancellationToken ct)
    {
        await using var connection = await OpenAsync(ct);
        return await TimedAsync(queryType, async () =>
        {
            await using var transaction = await connection.Connection.BeginTransactionAsync(IsolationLevel.ReadCommitted, ct);
            var result = await work(connection.Connection, transaction);
            await transaction.CommitAsync(ct);
            return result;
        });
    }

    public Task<IReadOnlyList<T>> QueryAsync<T>(string queryType, string sql, object? args, CancellationToken ct) =>
        RunAsync<IReadOnlyList<T>>(queryType, async c => (await c.QueryAsync<T>(new CommandDefinition(sql, args, cancellationToken: ct))).AsList(), ct);

    public Task<T?> QuerySingleOrDefaultAsync<T>(string queryType, string sql, object? args, CancellationToken ct) =>
        RunAsync(queryType, c => c.QuerySingleOrDefaultAsync<T>(new CommandDefinition(sql, args, cancellationToken: ct)), ct);

    public Task<int> ExecuteAsync(string queryType, string sql, object? args, CancellationToken ct) =>
        RunAsync(queryType, c => c.ExecuteAsync(new CommandDefinition(sql, args, cancellationToken: ct)), ct);

    private async Task<TrackedConnection> OpenAsync(CancellationToken ct)
    {
        var connection = await dataSource.OpenConnectionAsync(ct);
        return new TrackedConnection(connection, metrics);
    }

    private async Task<T> TimedAsync<T>(string queryType, Func<Task<T>> work)
    {
        var start = Stopwatch.GetTimestamp();
        try
        {
            return await work();
        }
        finally
        {
            metrics.DbQueryDuration.Record(Stopwatch.GetElapsedTime(start).TotalSeconds, new KeyValuePair<string, object?>("query_type", queryType));
        }
    }

    /// <summary>Counts the connection as active from open to dispose.</summary>
    private sealed class TrackedConnection : IAsyncDisposable
    {
        private readonly AgentBusMetrics _metrics;

        public TrackedConnection(NpgsqlConnection connection, AgentBusMetrics metrics)
        {
            (Connection, _metrics) = (connection, metrics);
            metrics.DbConnectionsActive.Add(1);
        }

        public NpgsqlConnection Connection { get; }

        public async ValueTask DisposeAsync()
        {
            await Connection.DisposeAsync();
            _metrics.DbConnectionsActive.Add(-1);
        }
    }
}
