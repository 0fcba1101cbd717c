using AgentBus.IntegrationTests.Infrastructure;

namespace AgentBus.IntegrationTests.Fixtures;

/// <summary>
/// The whole system on the openai provider, pointed at a local OpenAI-compatible endpoint, with a
/// real-looking key; support_engineer uses a model with no price.
/// </summary>
public sealed class OpenAiAppFixture : AgentBusAppFixture
{
    public const string ApiKey = "sk-agentbus-e2e-5b7e0c93d1a44f28";
    public const string UnpricedModel = "local-llama-3";

    public FakeModelServer Server { get; private set; } = null!;
    protected override bool CollectsLogsOf(string resource) => Services.Contains(resource);

    protected override string[] Args =>
    [
        "--AgentBus:Llm:Provider=openai", "--AgentBus:Llm:Model=gpt-4o-mini",
        $"--AgentBus:Llm:OpenAI:BaseUrl={new Uri(Server.BaseUrl, "v1")}", $"--AgentBus:Llm:OpenAI:ApiKey={ApiKey}",
    ];

    protected override void Configure(IDistributedApplicationTestingBuilder builder) =>
        builder.Project("worker")
            .WithEnvironment("AgentBus__Llm__Agents__support_engineer__Model", UnpricedModel);

    public override async ValueTask InitializeAsync()
    {
        Server = await FakeModelServer.StartAsync();
        await base.InitializeAsync();
    }

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        await Server.DisposeAsync();
    }
}
