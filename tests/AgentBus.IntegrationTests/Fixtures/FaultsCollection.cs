namespace AgentBus.IntegrationTests.Fixtures;

[CollectionDefinition(Name)]
public sealed class FaultsCollection : ICollectionFixture<FaultsFixture>
{
    public const string Name = "Faults";
}
