using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace AgentBus.Llm;

public static class LlmServiceCollectionExtensions
{
    /// <summary>The IChatClient every agent calls, with OpenTelemetry GenAI spans and metrics.</summary>
    public static IHostApplicationBuilder AddAgentBusLlm(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<LlmOptions>().BindConfiguration(LlmOptions.Section)
            .Validate(o => o.Provider == OfflineChatClient.ProviderName, "AgentBus:Llm:Provider must be 'offline' in this build.");
        builder.Services.AddChatClient(sp => new OfflineChatClient(sp.GetRequiredService<IOptions<LlmOptions>>().Value.Offline))
            .UseOpenTelemetry(sourceName: LlmTelemetry.SourceName);
        return builder;
    }
}

public static class LlmTelemetry
{
    /// <summary>The ActivitySource and Meter of the chat client's gen_ai.* telemetry.</summary>
    public const string SourceName = "AgentBus.Llm";
}
