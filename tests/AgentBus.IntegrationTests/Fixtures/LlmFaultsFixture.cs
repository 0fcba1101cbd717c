namespace AgentBus.IntegrationTests.Fixtures;

/// <summary>
/// The whole pipeline on the openai provider against a scriptable local endpoint, with short
/// clocks: 2 s per model call, 2 retries 100 ms apart, a breaker that pauses calls for 5 s,
/// 4 attempts per stage with retries at most 1 s apart.
/// </summary>
public sealed class LlmFaultsFixture : ModelServerAppFixture
{
    public static readonly TimeSpan BreakDuration = TimeSpan.FromSeconds(5);

    protected override string[] Args => OpenAiProviderArgs("sk-agentbus-faults-3c9e");

    protected override void Configure(IDistributedApplicationTestingBuilder builder) =>
        builder.Project("worker")
            .WithEnvironment("AgentBus__Llm__Resilience__AttemptTimeout", "00:00:02")
            .WithEnvironment("AgentBus__Llm__Resilience__TotalTimeout", "00:00:20")
            .WithEnvironment("AgentBus__Llm__Resilience__MaxRetries", "2")
            .WithEnvironment("AgentBus__Llm__Resilience__RetryBaseDelay", "00:00:00.100")
            .WithEnvironment("AgentBus__Llm__Resilience__BreakDuration", BreakDuration.ToString())
            .WithEnvironment("AgentBus__Queue__MaxAttempts", "4")
            .WithEnvironment("AgentBus__Queue__RetryBaseDelay", "00:00:00.200")
            .WithEnvironment("AgentBus__Queue__RetryMaxDelay", "00:00:01");
}
