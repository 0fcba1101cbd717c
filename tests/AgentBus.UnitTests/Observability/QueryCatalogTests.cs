namespace AgentBus.UnitTests.Observability;

/// <summary>How the live Prometheus test takes alert expressions apart (no services needed).</summary>
public sealed class QueryCatalogTests
{
    [Fact]
    public void Operands_split_at_top_level_comparisons_and_set_operators_dropping_their_modifiers()
    {
        Assert.Equal(
            ["max by (namespace, queue_name) (agent_bus_worker_queue_size)", "0",
             "sum by (namespace, queue_name) (increase(agent_bus_worker_tasks_processed_total{status=~\"completed|skipped\"}[30m]))", "0"],
            QueryCatalog.Operands("max by (namespace, queue_name) (agent_bus_worker_queue_size) > 0 unless on (namespace, queue_name) sum by (namespace, queue_name) (increase(agent_bus_worker_tasks_processed_total{status=~\"completed|skipped\"}[30m])) > 0"));
        Assert.Equal(["a:ratio_rate1h", "(14.4 * 0.001)", "a:ratio_rate5m", "(14.4 * 0.001)"],
            QueryCatalog.Operands("a:ratio_rate1h > (14.4 * 0.001) and a:ratio_rate5m > (14.4 * 0.001)"));
        // Nested set operators, label values with operator characters and `or` inside names stay whole.
        Assert.Equal(["sum by (q) (x unless x offset 15m)", "0"], QueryCatalog.Operands("sum by (q) (x unless x offset 15m) > bool 0"));
        Assert.Equal(["up{job=\"a>b or c\", error_type!=\"x\"}", "1"], QueryCatalog.Operands("up{job=\"a>b or c\", error_type!=\"x\"} >= 1"));
        Assert.Equal(["errors_total"], QueryCatalog.Operands("errors_total"));
        Assert.Equal(["a", "b"], QueryCatalog.Operands("a / on (x) group_left (y) c or ignoring (z) b").Select(o => o.Split(' ')[0]).Distinct());
    }

    [Fact]
    public void Numbers_absent_and_offsets_are_recognised()
    {
        Assert.True(QueryCatalog.IsNumber("(14.4 * 0.001)"));
        Assert.True(QueryCatalog.IsNumber("1000"));
        Assert.False(QueryCatalog.IsNumber("3 * avg_over_time(x[7d] offset 1h)"));
        Assert.Equal("up{job=\"agent-bus\", component=\"api\"}", QueryCatalog.Unwrap("absent(up{job=\"agent-bus\", component=\"api\"})"));
        Assert.Equal("absent(a) + absent(b)", QueryCatalog.Unwrap("absent(a) + absent(b)"));
        Assert.Equal(TimeSpan.FromHours(1), QueryCatalog.LongestOffset("x > 3 * avg_over_time(x[7d] offset 1h) and y offset 15m"));
        Assert.Equal(TimeSpan.Zero, QueryCatalog.LongestOffset("rate(x[5m])"));
    }

    [Fact]
    public void Queries_txt_has_a_source_for_every_query()
    {
        var queries = QueryCatalog.Load();
        Assert.NotEmpty(queries);
        Assert.All(queries, q => Assert.False(string.IsNullOrWhiteSpace(q.Source)));
        Assert.Contains(queries, q => q.IsAlert);
        Assert.Contains(queries, q => !q.IsAlert);
    }
}
