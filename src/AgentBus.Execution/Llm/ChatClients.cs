using System.ClientModel;
using System.ClientModel.Primitives;
using System.Collections.Concurrent;
using Anthropic;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OpenAI;

namespace AgentBus.Llm;

/// <summary>
/// Builds one IChatClient per (provider, model), each wrapped with OpenTelemetry (gen_ai spans and
/// metrics) and sending through its provider's resilient HttpClient. The SDKs' own retries are
/// off: the HttpClient pipeline owns retries, timeouts and the breaker.
/// </summary>
public sealed class ChatClients(IOptions<LlmOptions> options, IHttpClientFactory http, ILoggerFactory loggers) : IDisposable
{
    public const string AnthropicHttpClient = "llm-anthropic";
    public const string OpenAIHttpClient = "llm-openai";

    private readonly ConcurrentDictionary<(string, string, Uri?), IChatClient> _clients = new();

    public LlmRoute For(string agentType)
    {
        if (InferenceEndpoint.Current is var (url, localModel))
        {
            return new LlmRoute(_clients.GetOrAdd((LlmProviders.OpenAI, localModel, url), key => Build(key.Item1, key.Item2, key.Item3)), LlmProviders.OpenAI, localModel);
        }
        var (provider, model) = options.Value.RouteFor(agentType);
        return new LlmRoute(_clients.GetOrAdd((provider, model, null), key => Build(key.Item1, key.Item2, key.Item3)), provider, model);
    }

    private IChatClient Build(string provider, string model, Uri? endpoint)
    {
        var o = options.Value;
        IChatClient inner = provider switch
        {
            LlmProviders.Offline => new OfflineChatClient(o.Offline),
            LlmProviders.Anthropic => new AnthropicClient
            {
                ApiKey = o.Anthropic.Key ?? throw MissingKey(provider, "Anthropic"),
                BaseUrl = o.Anthropic.Url?.ToString().TrimEnd('/') ?? "https://api.anthropic.com",
                HttpClient = http.CreateClient(AnthropicHttpClient),
                MaxRetries = 0,
                Timeout = o.Resilience.TotalTimeout,
            }.AsIChatClient(model, o.MaxOutputTokens),
            LlmProviders.OpenAI => new OpenAIClient(
                // Local OpenAI-compatible servers (Ollama, vLLM) take any key; api.openai.com needs a real one.
                endpoint is null ? new ApiKeyCredential(o.OpenAI.Key ?? (o.OpenAI.Url is null ? throw MissingKey(provider, "OpenAI") : "none")) : new ApiKeyCredential("none"),
                new OpenAIClientOptions
                {
                    Endpoint = endpoint ?? o.OpenAI.Url,
                    Transport = new HttpClientPipelineTransport(http.CreateClient(OpenAIHttpClient)),
                    RetryPolicy = new ClientRetryPolicy(maxRetries: 0),
                    NetworkTimeout = o.Resilience.TotalTimeout,
                }).GetChatClient(model).AsIChatClient(),
            _ => throw new InvalidOperationException($"Unknown LLM provider '{provider}': use {string.Join(", ", LlmProviders.All)}."),
        };
        return inner.AsBuilder().UseOpenTelemetry(loggers, LlmTelemetry.SourceName).Build();
    }

    private static InvalidOperationException MissingKey(string provider, string section) =>
        new($"The {provider} provider needs an API key: set AgentBus:Llm:{section}:ApiKey (an Aspire parameter or secret).");

    public void Dispose()
    {
        foreach (var client in _clients.Values)
        {
            client.Dispose();
        }
    }
}
