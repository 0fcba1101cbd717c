namespace AgentBus.AppHost;

public static class LlmParameterExtensions
{
    public static LlmParameters AddLlmParameters(this IDistributedApplicationBuilder builder)
    {
        IResourceBuilder<ParameterResource> Setting(string name, string key, string fallback = "", bool secret = false) =>
            builder.AddParameter(name, builder.Configuration[key] ?? fallback, publishValueAsDefault: !secret, secret: secret);
        return new LlmParameters(
            Setting("llm-provider", "AgentBus:Llm:Provider", "offline"),
            Setting("llm-model", "AgentBus:Llm:Model"),
            Setting("openai-base-url", "AgentBus:Llm:OpenAI:BaseUrl"),
            Setting("openai-api-key", "AgentBus:Llm:OpenAI:ApiKey", secret: true),
            Setting("anthropic-base-url", "AgentBus:Llm:Anthropic:BaseUrl"),
            Setting("anthropic-api-key", "AgentBus:Llm:Anthropic:ApiKey", secret: true));
    }

    public static IResourceBuilder<ProjectResource> WithLlm(this IResourceBuilder<ProjectResource> service, LlmParameters llm) =>
        service
            .WithEnvironment("AgentBus__Llm__Provider", llm.Provider)
            .WithEnvironment("AgentBus__Llm__Model", llm.Model)
            .WithEnvironment("AgentBus__Llm__OpenAI__BaseUrl", llm.OpenAIBaseUrl)
            .WithEnvironment("AgentBus__Llm__OpenAI__ApiKey", llm.OpenAIApiKey)
            .WithEnvironment("AgentBus__Llm__Anthropic__BaseUrl", llm.AnthropicBaseUrl)
            .WithEnvironment("AgentBus__Llm__Anthropic__ApiKey", llm.AnthropicApiKey);
}
