namespace AgentBus.IntegrationTests.Fixtures;

/// <summary>
/// A whole Agent Bus whose api trusts a <see cref="TestOidcProvider"/> (its Authority) and whose
/// web app signs people in with it: the provider starts before the AppHost, whose settings name
/// its address, learns the web's redirect address once the web has one, and stops after it.
/// </summary>
public sealed class OidcAppFixture : AgentBusAppFixture
{
    public TestOidcProvider Provider { get; private set; } = null!;

    /// <summary>A failing sign-in says why in the web's and the api's logs.</summary>
    protected override bool CollectsLogsOf(string resource) => resource is Web or "api";

    protected override void Configure(IDistributedApplicationTestingBuilder builder)
    {
        builder.Project("api")
            .WithEnvironment("AgentBus__Auth__Jwt__Authority", Provider.Authority.ToString())
            .WithEnvironment("AgentBus__Auth__Jwt__Audience", TestOidcProvider.Audience)
            // The base fixture's HS256 issuer goes: tokens come from the provider alone (an
            // Authority would win anyway, but then the settings would say two things).
            .WithEnvironment(e =>
            {
                e.EnvironmentVariables.Remove("AgentBus__Auth__Jwt__Issuer");
                e.EnvironmentVariables.Remove("AgentBus__Auth__Jwt__SigningKey");
            });
        builder.Project(Web)
            .WithEnvironment("AgentBus__Web__Oidc__Authority", Provider.Authority.ToString())
            .WithEnvironment("AgentBus__Web__Oidc__ClientId", TestOidcProvider.ClientId)
            .WithEnvironment("AgentBus__Web__Oidc__ClientSecret", Provider.ClientSecret);
    }

    public override async ValueTask InitializeAsync()
    {
        Provider = await TestOidcProvider.StartAsync();
        await base.InitializeAsync();
        // The address the browser uses is the one the web builds its redirect_uri from.
        Provider.RedirectUri = new Uri(App.GetEndpoint(Web, "http"), "/signin-oidc").ToString();
    }

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        await Provider.DisposeAsync();
    }
}
