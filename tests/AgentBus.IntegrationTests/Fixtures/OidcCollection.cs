namespace AgentBus.IntegrationTests.Fixtures;

[CollectionDefinition(Name)]
public sealed class OidcCollection : ICollectionFixture<OidcAppFixture>
{
    public const string Name = "Oidc";
}
