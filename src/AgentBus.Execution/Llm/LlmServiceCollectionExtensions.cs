using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Http.Resilience;
using Microsoft.Extensions.Options;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;
using Polly;

namespace AgentBus.Llm;

public static class LlmServiceCollectionExtensions
{
    /// <summary>Providers, prices and the resilient HttpClient per provider.</summary>
    public static IHostApplicationBuilder AddAgentBusLlm(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<LlmOptions>().BindConfiguration(LlmOptions.Section)
            .Validate(o => string.IsNullOrWhiteSpace(o.Provider) || LlmProviders.All.Contains(o.Provider.ToLowerInvariant()), $"AgentBus:Llm:Provider must be one of {string.Join(", ", LlmProviders.All)}.")
            .Validate(o => new[] { o.OpenAI.BaseUrl, o.Anthropic.BaseUrl }.All(u => string.IsNullOrWhiteSpace(u) || Uri.TryCreate(u, UriKind.Absolute, out _)), "AgentBus:Llm:*:BaseUrl must be an absolute URL.")
            .Validate(o => o.Agents.Values.All(a => a.Provider is null || LlmProviders.All.Contains(a.Provider.ToLowerInvariant())), "AgentBus:Llm:Agents:*:Provider must name a known provider.")
            .Validate(o => o.MaxOutputTokens is > 0 and <= 200_000, "AgentBus:Llm:MaxOutputTokens must be 1 to 200000.")
            .Validate(o => o.DefaultContextWindow >= 1024 && o.ContextWindows.Values.All(w => w >= 1024), "AgentBus:Llm:DefaultContextWindow and ContextWindows:* must be at least 1024 tokens.")
            .ValidateOnStart();
        foreach (var (name, provider) in new[] { (ChatClients.AnthropicHttpClient, LlmProviders.Anthropic), (ChatClients.OpenAIHttpClient, LlmProviders.OpenAI) })
        {
            var client = builder.Services.AddHttpClient(name, c => c.Timeout = Timeout.InfiniteTimeSpan)
                .AddHttpMessageHandler(() => new ProviderErrorHandler(provider));
#pragma warning disable EXTEXP0001 // the only way to drop the service-wide standard pipeline (30 s total) for model calls
            client.RemoveAllResilienceHandlers();
#pragma warning restore EXTEXP0001
            client.AddResilienceHandler(name, (pipeline, context) =>
            {
                var resilience = context.ServiceProvider.GetRequiredService<IOptions<LlmOptions>>().Value.Resilience;
                pipeline
                    .AddTimeout(resilience.TotalTimeout)
                    .AddRetry(new HttpRetryStrategyOptions
                    {
                        // Transient: 408, 429, 5xx (529 included), network errors and attempt timeouts.
                        MaxRetryAttempts = resilience.MaxRetries,
                        BackoffType = DelayBackoffType.Exponential,
                        UseJitter = true,
                        Delay = resilience.RetryBaseDelay,
                        ShouldRetryAfterHeader = true,
                    })
                    .AddCircuitBreaker(new HttpCircuitBreakerStrategyOptions
                    {
                        FailureRatio = 0.8,
                        MinimumThroughput = 10,
                        SamplingDuration = TimeSpan.FromMinutes(1),
                        BreakDuration = resilience.BreakDuration,
                    })
                    .AddTimeout(resilience.AttemptTimeout);
            });
        }
        // The chat clients' gen_ai.* spans and metrics (UseOpenTelemetry in ChatClients).
        builder.Services.ConfigureOpenTelemetryMeterProvider(metrics => metrics.AddMeter(LlmTelemetry.SourceName));
        builder.Services.ConfigureOpenTelemetryTracerProvider(tracing => tracing.AddSource(LlmTelemetry.SourceName));
        builder.Services.AddSingleton<ChatClients>();
        builder.Services.AddSingleton<PriceTable>();
        builder.Services.AddSingleton<ContextWindows>();
        return builder;
    }
}
