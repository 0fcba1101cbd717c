namespace AgentBus.IntegrationTests.Observability;

/// <summary>One span as a service exported it over OTLP.</summary>
public sealed record ExportedSpan(
    string Service, string Scope, string TraceId, string SpanId, string? ParentSpanId, string Name, int Kind,
    IReadOnlyDictionary<string, string> Attributes, IReadOnlyList<(string TraceId, string SpanId)> Links, DateTimeOffset Start, DateTimeOffset End)
{
    public const int KindInternal = 1, KindServer = 2, KindClient = 3, KindProducer = 4, KindConsumer = 5;

    public string? this[string attribute] => Attributes.GetValueOrDefault(attribute);

    public override string ToString() => $"{Service}/{Scope}: {Name} ({SpanId} <- {ParentSpanId ?? "root"})";
}
