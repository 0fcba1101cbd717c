namespace AgentBus.IntegrationTests.Fixtures;

[CollectionDefinition(Name)]
public sealed class SecurityCollection : ICollectionFixture<SecurityFixture>
{
    public const string Name = "Security";
}
