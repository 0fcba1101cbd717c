namespace AgentBus.Deploy;

/// <summary>One piece of a resolved manifest value: literal text, or the value of a parameter that
/// lives in a Kubernetes Secret (never inlined, so it cannot leak into a ConfigMap).</summary>
public abstract record Part;
public sealed record Text(string Value) : Part;
public sealed record SecretParameter(string Name) : Part;

/// <summary>A manifest value with every <c>{...}</c> placeholder resolved for the cluster.</summary>
/// <param name="ConnectionStrings">Resources whose connection string the value embeds.</param>
/// <param name="Hosts">Resources whose bindings (hosts, ports) the value names.</param>
public sealed record Resolved(IReadOnlyList<Part> Parts, IReadOnlyList<string> ConnectionStrings, IReadOnlyList<string> Hosts)
{
    public bool IsPlain => Parts.All(p => p is Text);
    public string PlainText => string.Concat(Parts.Cast<Text>().Select(t => t.Value));
    public IEnumerable<string> Secrets => Parts.OfType<SecretParameter>().Select(s => s.Name).Distinct();
    /// <summary>Connection strings are treated as credentials even when they hold none today.</summary>
    public bool FromConnectionString => ConnectionStrings.Count > 0;
}
