namespace AgentBus.IntegrationTests.Fixtures;

/// <summary>
/// Two workers, an 8 s lease, a 1 s shutdown grace and a development stage that takes 4 s: long
/// enough to kill, stop or cancel while it runs, and a hand-back (1 s) is told apart from a
/// reclaim (8 s or more).
/// </summary>
public sealed class ResilienceAppFixture : AgentBusAppFixture
{
    protected override IEnumerable<string> ExtraResources => ["worker-2"];

    protected override void Configure(IDistributedApplicationTestingBuilder builder)
    {
        foreach (var w in new[] { builder.Project("worker"), AddSecondWorker(builder) })
        {
            w.WithEnvironment("AgentBus__Queue__Lease", "00:00:08")
             .WithEnvironment("AgentBus__Worker__ShutdownGrace", "00:00:01")
             .WithEnvironment("AgentBus__Llm__Offline__LatencyByAgent__developer_agent", "00:00:04");
        }
    }
}
