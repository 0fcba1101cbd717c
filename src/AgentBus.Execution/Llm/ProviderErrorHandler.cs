using Polly.CircuitBreaker;
using Polly.Timeout;

namespace AgentBus.Llm;

/// <summary>
/// The outermost handler of a provider's HttpClient: turns what is left after retries, timeouts
/// and the breaker into one classified <see cref="LlmProviderException"/>.
/// </summary>
public sealed class ProviderErrorHandler(string provider) : DelegatingHandler
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        HttpResponseMessage response;
        try
        {
            response = await base.SendAsync(request, cancellationToken);
        }
        catch (TimeoutRejectedException e)
        {
            throw new LlmProviderException(provider, "timeout", null, $"{provider}: the call timed out", e);
        }
        catch (BrokenCircuitException e)
        {
            throw new LlmProviderException(provider, "circuit_open", null, $"{provider}: circuit open after repeated failures; calls paused", e);
        }
        catch (HttpRequestException e) when (!cancellationToken.IsCancellationRequested)
        {
            throw new LlmProviderException(provider, "provider_unreachable", null, $"{provider}: unreachable ({e.HttpRequestError})", e);
        }
        if (response.IsSuccessStatusCode)
        {
            return response;
        }
        var status = response.StatusCode;
        response.Dispose();
        var type = LlmProviderException.Classify(status);
        throw new LlmProviderException(provider, type, (int)status, $"{provider} answered {(int)status} ({type})");
    }
}
