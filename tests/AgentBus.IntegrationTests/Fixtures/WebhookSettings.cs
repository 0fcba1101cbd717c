namespace AgentBus.IntegrationTests.Fixtures;

/// <summary>Webhook settings of a fixture's api and worker: retries in fractions of a second, a short window.</summary>
public static class WebhookSettings
{
    /// <summary>Where the tests' receivers listen (loopback, but not 127.0.0.1, which stays refused).</summary>
    public const string ReceiverAddress = "127.0.0.2";

    public static IResourceBuilder<ProjectResource> Apply(IResourceBuilder<ProjectResource> service, TimeSpan retryFor) => service
        .WithEnvironment("AgentBus__Webhooks__PollInterval", "00:00:00.100")
        .WithEnvironment("AgentBus__Webhooks__FirstRetryDelay", "00:00:00.200")
        .WithEnvironment("AgentBus__Webhooks__MaxRetryDelay", "00:00:01")
        .WithEnvironment("AgentBus__Webhooks__Timeout", "00:00:02")
        .WithEnvironment("AgentBus__Webhooks__Lease", "00:00:05")
        .WithEnvironment("AgentBus__Webhooks__RetryFor", retryFor.ToString());
}
