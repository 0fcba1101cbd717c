namespace AgentBus.Testing;

/// <summary>One query of tests/monitoring/queries.txt with the `# source:` line above it.</summary>
public sealed record CatalogQuery(string Source, string Expr, int Line)
{
    /// <summary>An alerting rule's expression: it returns series only while the alert fires.</summary>
    public bool IsAlert => Source.StartsWith("alert-rules.yml / alert ", StringComparison.Ordinal);

    public override string ToString() => $"queries.txt:{Line} [{Source}] {Expr}";
}
