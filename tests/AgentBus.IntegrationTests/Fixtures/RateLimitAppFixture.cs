namespace AgentBus.IntegrationTests.Fixtures;

/// <summary>
/// The standard topology with tiny limits, so a short burst exceeds them: token buckets a few
/// requests deep, and a daily spend cap (<see cref="DailySpendCapUsd"/>) below what one call of
/// the priced offline model may cost, so the first model call of the day is refused. The api
/// applies forwarded headers as when published (ASPNETCORE_FORWARDEDHEADERS_ENABLED) and trusts no
/// proxy, so a client's own X-Forwarded-For must not move it to another bucket.
/// </summary>
public sealed class RateLimitAppFixture : AgentBusAppFixture
{
    public const int Burst = 4;
    public const decimal DailySpendCapUsd = 0.05m;

    protected override void Configure(IDistributedApplicationTestingBuilder builder)
    {
        var invariant = System.Globalization.CultureInfo.InvariantCulture;
        builder.Project("api")
            .WithEnvironment("ASPNETCORE_FORWARDEDHEADERS_ENABLED", "true")
            .WithEnvironment("AgentBus__RateLimits__PerKey__PermitsPerSecond", "2")
            .WithEnvironment("AgentBus__RateLimits__PerKey__Burst", Burst.ToString(invariant))
            .WithEnvironment("AgentBus__RateLimits__PerAddress__PermitsPerSecond", "2")
            .WithEnvironment("AgentBus__RateLimits__PerAddress__Burst", Burst.ToString(invariant))
            .WithEnvironment("AgentBus__RateLimits__KeyLookups__PermitsPerSecond", "2")
            .WithEnvironment("AgentBus__RateLimits__KeyLookups__Burst", Burst.ToString(invariant));
        builder.Project("worker")
            .WithEnvironment("AgentBus__Llm__Prices__offline-writer-1__Input", AppHostFixture.OfflinePricePerMillion.ToString(invariant))
            .WithEnvironment("AgentBus__Llm__Prices__offline-writer-1__Output", AppHostFixture.OfflinePricePerMillion.ToString(invariant))
            .WithEnvironment("AgentBus__Llm__DailySpendCapUsd", DailySpendCapUsd.ToString(invariant));
    }
}

[CollectionDefinition(Name)]
public sealed class RateLimitCollection : ICollectionFixture<RateLimitAppFixture>
{
    public const string Name = "RateLimited";
}
