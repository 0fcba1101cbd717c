namespace AgentBus.IntegrationTests.Fixtures;

/// <summary>
/// The standard topology, shared by the tests of the "AppHost" collection. The offline model is
/// given a price ($100 per million tokens) so budgets have something to count, and projects
/// submitted without a budget get <see cref="DefaultBudgetUsd"/>. The api believes X-Forwarded-For
/// from loopback, as it believes the ingress controller's network in Kubernetes. Webhooks retry
/// within seconds and may reach the tests' receivers on 127.0.0.2 only (WebhookSettings).
/// </summary>
public sealed class AppHostFixture : AgentBusAppFixture
{
    public const decimal OfflinePricePerMillion = 100m;
    public const decimal DefaultBudgetUsd = 1000m;

    protected override void Configure(IDistributedApplicationTestingBuilder builder)
    {
        builder.Project("worker")
            .WithEnvironment("AgentBus__Llm__Prices__offline-writer-1__Input", OfflinePricePerMillion.ToString(System.Globalization.CultureInfo.InvariantCulture))
            .WithEnvironment("AgentBus__Llm__Prices__offline-writer-1__Output", OfflinePricePerMillion.ToString(System.Globalization.CultureInfo.InvariantCulture));
        builder.Project("api")
            .WithEnvironment("AgentBus__Projects__DefaultBudgetUsd", DefaultBudgetUsd.ToString(System.Globalization.CultureInfo.InvariantCulture))
            .WithEnvironment("ASPNETCORE_FORWARDEDHEADERS_ENABLED", "true")
            .WithEnvironment("AgentBus__ForwardedHeaders__KnownNetworks__0", "127.0.0.0/8")
            .WithEnvironment("AgentBus__ForwardedHeaders__KnownProxies__0", "::1");
        foreach (var service in new[] { "api", "worker" })
        {
            WebhookSettings.Apply(builder.Project(service), retryFor: TimeSpan.FromSeconds(4))
                // The tests' receivers listen on 127.0.0.2, the one private host trusted: every other
                // private address (127.0.0.1, localhost, 169.254.169.254) keeps the default refusal.
                .WithEnvironment("AgentBus__Webhooks__AllowedHosts__0", WebhookSettings.ReceiverAddress);
        }
    }
}
