namespace AgentBus.IntegrationTests.Fixtures;

/// <summary>
/// The whole system on the anthropic provider, as the README configures it, against a local
/// server speaking the Messages API (structured output, prompt-cache breakpoints, cache usage).
/// support_engineer uses a model whose context window is configured small, so its prompt must be cut.
/// </summary>
public sealed class AnthropicAppFixture : ModelServerAppFixture
{
    public const string ApiKey = "sk-ant-agentbus-e2e-2f64b1";
    public const string Model = "claude-sonnet-4-5";
    public const string SmallModel = "claude-haiku-4-5";
    public const int SmallWindow = 12_000;

    protected override string[] Args =>
    [
        "--AgentBus:Llm:Provider=anthropic", $"--AgentBus:Llm:Model={Model}",
        $"--AgentBus:Llm:Anthropic:BaseUrl={ModelServer.BaseUrl}", $"--AgentBus:Llm:Anthropic:ApiKey={ApiKey}",
    ];

    protected override void Configure(IDistributedApplicationTestingBuilder builder) =>
        builder.Project("worker")
            .WithEnvironment("AgentBus__Llm__Agents__support_engineer__Model", SmallModel)
            .WithEnvironment($"AgentBus__Llm__ContextWindows__{SmallModel}", SmallWindow.ToString(System.Globalization.CultureInfo.InvariantCulture));
}
