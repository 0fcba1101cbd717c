namespace AgentBus.IntegrationTests.Fixtures;

[CollectionDefinition(Name)]
public sealed class ObservabilityCollection : ICollectionFixture<ObservabilityFixture>
{
    public const string Name = "Observability";
}
