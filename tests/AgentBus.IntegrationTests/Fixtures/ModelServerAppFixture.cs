using AgentBus.Llm;

namespace AgentBus.IntegrationTests.Fixtures;

/// <summary>
/// A whole Agent Bus with a <see cref="FakeModelServer"/> beside it: the server starts before the
/// AppHost, whose settings name its address, and stops after it.
/// </summary>
public abstract class ModelServerAppFixture : AgentBusAppFixture
{
    public FakeModelServer ModelServer { get; private set; } = null!;

    /// <summary>How the server writes its answers; null answers at once.</summary>
    protected virtual OfflineOptions? ModelWriter => null;

    /// <summary>AppHost arguments that put the agents on the openai provider, at <see cref="ModelServer"/>, with <paramref name="apiKey"/>.</summary>
    protected string[] OpenAiProviderArgs(string apiKey) =>
    [
        "--AgentBus:Llm:Provider=openai", "--AgentBus:Llm:Model=gpt-4o-mini",
        $"--AgentBus:Llm:OpenAI:BaseUrl={new Uri(ModelServer.BaseUrl, "v1")}", $"--AgentBus:Llm:OpenAI:ApiKey={apiKey}",
    ];

    public override async ValueTask InitializeAsync()
    {
        ModelServer = await FakeModelServer.StartAsync(ModelWriter);
        await base.InitializeAsync();
    }

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        await ModelServer.DisposeAsync();
    }
}
