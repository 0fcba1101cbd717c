namespace AgentBus.IntegrationTests.Fixtures;

/// <summary>The plan agent's provider always fails; three attempts with quick backoff.</summary>
public sealed class FailingPlanAppFixture : AgentBusAppFixture
{
    protected override void Configure(IDistributedApplicationTestingBuilder builder) =>
        builder.Project("worker")
            .WithEnvironment("AgentBus__Llm__Offline__FailAgents__0", "plan_agent")
            .WithEnvironment("AgentBus__Queue__MaxAttempts", "3")
            .WithEnvironment("AgentBus__Queue__RetryBaseDelay", "00:00:00.200");
}
