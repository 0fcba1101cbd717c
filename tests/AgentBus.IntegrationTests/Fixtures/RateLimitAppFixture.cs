namespace AgentBus.IntegrationTests.Fixtures;

/// <summary>The standard topology with tiny token buckets, so a short burst exceeds them.</summary>
public sealed class RateLimitAppFixture : AgentBusAppFixture
{
    public const int Burst = 4;

    protected override void Configure(IDistributedApplicationTestingBuilder builder) =>
        builder.Project("api")
            .WithEnvironment("AgentBus__RateLimits__PerKey__PermitsPerSecond", "2")
            .WithEnvironment("AgentBus__RateLimits__PerKey__Burst", Burst.ToString(System.Globalization.CultureInfo.InvariantCulture))
            .WithEnvironment("AgentBus__RateLimits__PerAddress__PermitsPerSecond", "2")
            .WithEnvironment("AgentBus__RateLimits__PerAddress__Burst", Burst.ToString(System.Globalization.CultureInfo.InvariantCulture))
            .WithEnvironment("AgentBus__RateLimits__KeyLookups__PermitsPerSecond", "2")
            .WithEnvironment("AgentBus__RateLimits__KeyLookups__Burst", Burst.ToString(System.Globalization.CultureInfo.InvariantCulture));
}
