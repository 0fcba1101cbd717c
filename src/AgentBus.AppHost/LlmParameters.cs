namespace AgentBus.AppHost;

/// <summary>
/// The model settings the services that call models receive. Values come from the AppHost's
/// configuration (e.g. AgentBus__Llm__Provider=openai in the environment of ./run.sh); keys are
/// secret parameters, so the dashboard masks them and published manifests carry no value.
/// </summary>
public sealed record LlmParameters(
    IResourceBuilder<ParameterResource> Provider, IResourceBuilder<ParameterResource> Model, IResourceBuilder<ParameterResource> OpenAIBaseUrl,
    IResourceBuilder<ParameterResource> OpenAIApiKey, IResourceBuilder<ParameterResource> AnthropicBaseUrl, IResourceBuilder<ParameterResource> AnthropicApiKey);
