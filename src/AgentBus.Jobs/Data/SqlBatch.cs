using System.Collections.Concurrent;
using System.Data;
using System.Text;
using Dapper;

namespace AgentBus.Data;

/// <summary>
/// Statements sent together (one round trip; Npgsql runs them in order). Each brings its own
/// parameters; two statements that use one parameter name are refused, so no statement can
/// change another's meaning by accident.
/// </summary>
internal sealed class SqlBatch
{
    private static readonly ConcurrentDictionary<Type, string[]> NamesOf = new();

    private readonly StringBuilder _sql = new();
    private readonly DynamicParameters _parameters = new();
    private readonly HashSet<string> _names = new(StringComparer.OrdinalIgnoreCase);

    public SqlBatch Add(SqlStatement statement)
    {
        if (statement.Parameters is { } parameters)
        {
            foreach (var name in NamesOf.GetOrAdd(parameters.GetType(), t => [.. t.GetProperties().Select(p => p.Name)]))
            {
                if (!_names.Add(name))
                {
                    throw new ArgumentException($"Parameter @{name} is already used by another statement of this batch.", nameof(statement));
                }
            }
            _parameters.AddDynamicParams(parameters);
        }
        _sql.Append(statement.Sql.TrimEnd().TrimEnd(';')).Append(";\n");
        return this;
    }

    /// <summary>The parameters the batch's statements name, each once.</summary>
    public IReadOnlyCollection<string> ParameterNames => _names;

    public CommandDefinition Command(IDbTransaction? transaction = null, CancellationToken ct = default) =>
        new(_sql.ToString(), _parameters, transaction, cancellationToken: ct);
}
