using AgentBus.IntegrationTests.Observability;

namespace AgentBus.IntegrationTests.Fixtures;

/// <summary>
/// A whole Agent Bus where every secret has a recognisable random value and is really used: the
/// openai provider points at a FakeModelServer (so the key goes out in requests), logs are exported
/// over OTLP to a local receiver, and every line every resource prints is kept.
/// </summary>
public sealed class SecurityFixture : ModelServerAppFixture
{
    public string OpenAIApiKey { get; } = $"sk-oai-leakcheck-{Guid.NewGuid():N}";
    public string AnthropicApiKey { get; } = $"sk-ant-leakcheck-{Guid.NewGuid():N}";

    public OtlpReceiver Otlp { get; private set; } = null!;

    /// <summary>Logs keeps every line every resource (postgres and redis included) printed.</summary>
    protected override bool CollectsLogsOf(string resource) => true;

    protected override string[] Args => [.. OpenAiProviderArgs(OpenAIApiKey), $"--AgentBus:Llm:Anthropic:ApiKey={AnthropicApiKey}"];

    protected override void Configure(IDistributedApplicationTestingBuilder builder)
    {
        // A provider error should fail its stage in seconds, not after minutes of backoff.
        builder.Project("worker")
            .WithEnvironment("AgentBus__Llm__Resilience__MaxRetries", "1")
            .WithEnvironment("AgentBus__Llm__Resilience__RetryBaseDelay", "00:00:00.100");
    }

    protected override void ConfigureTelemetry(IDistributedApplicationTestingBuilder builder) => ExportTelemetryTo(builder, () => Otlp.BaseUrl);

    public override async ValueTask InitializeAsync()
    {
        Otlp = await OtlpReceiver.StartAsync();
        await base.InitializeAsync();
    }

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        await Otlp.DisposeAsync();
    }
}
