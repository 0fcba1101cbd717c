namespace AgentBus.Data;

/// <summary>
/// One SQL statement with the parameters it names, owned by the type that knows the table (the
/// outbox's insert, the routing record): combined with others into one round trip by
/// <see cref="SqlBatch"/> instead of SQL text spliced across files.
/// </summary>
internal readonly record struct SqlStatement(string Sql, object? Parameters = null);
