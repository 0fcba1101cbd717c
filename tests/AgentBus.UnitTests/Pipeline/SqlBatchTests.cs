using AgentBus.Data;
using Dapper;

namespace AgentBus.UnitTests.Pipeline;

/// <summary>Statements owned by different types combine into one round trip without sharing parameter names.</summary>
public sealed class SqlBatchTests
{
    [Fact]
    public void Statements_keep_their_order_and_their_own_parameters()
    {
        var batch = new SqlBatch()
            .Add(new SqlStatement("SET LOCAL a TO b"))
            .Add(new SqlStatement("INSERT INTO t SELECT unnest(@ids);", new { ids = new[] { 1, 2 } }))
            .Add(new SqlStatement("SELECT * FROM u WHERE id = @uid", new { uid = 7 }));
        var command = batch.Command();
        Assert.Equal("SET LOCAL a TO b;\nINSERT INTO t SELECT unnest(@ids);\nSELECT * FROM u WHERE id = @uid;\n", command.CommandText);
        Assert.Equal(["ids", "uid"], batch.ParameterNames.Order(StringComparer.Ordinal));
        Assert.IsType<DynamicParameters>(command.Parameters);
    }

    [Fact]
    public void Two_statements_that_name_one_parameter_are_refused()
    {
        var batch = new SqlBatch().Add(new SqlStatement("SELECT @jobIds", new { jobIds = new[] { Guid.NewGuid() } }));
        var e = Assert.Throws<ArgumentException>(() => batch.Add(new SqlStatement("SELECT @JobIds", new { JobIds = Array.Empty<Guid>() })));
        Assert.Contains("@JobIds", e.Message, StringComparison.Ordinal);
    }
}
