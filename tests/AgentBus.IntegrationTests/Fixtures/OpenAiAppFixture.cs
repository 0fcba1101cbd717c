namespace AgentBus.IntegrationTests.Fixtures;

/// <summary>
/// The whole system on the openai provider, pointed at a local OpenAI-compatible endpoint, with a
/// real-looking key; support_engineer uses a model with no price.
/// </summary>
public sealed class OpenAiAppFixture : ModelServerAppFixture
{
    public const string ApiKey = "sk-agentbus-e2e-5b7e0c93d1a44f28";
    public const string UnpricedModel = "local-llama-3";

    protected override bool CollectsLogsOf(string resource) => Services.Contains(resource);

    protected override string[] Args => OpenAiProviderArgs(ApiKey);

    protected override void Configure(IDistributedApplicationTestingBuilder builder) =>
        builder.Project("worker")
            .WithEnvironment("AgentBus__Llm__Agents__support_engineer__Model", UnpricedModel);
}
