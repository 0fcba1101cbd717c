using System.Net;

namespace AgentBus.Llm;

/// <summary>
/// A model call that failed for good (after the resilience pipeline), classified. The message
/// names provider, status and class only: never a key, header or response body.
/// </summary>
public sealed class LlmProviderException(string provider, string errorType, int? status, string message, Exception? inner = null)
    : Exception(message, inner)
{
    public string Provider { get; } = provider;

    /// <summary>rate_limited, overloaded, timeout, auth, bad_request, provider_error, circuit_open, provider_unreachable, bad_response.</summary>
    public string ErrorType { get; } = errorType;

    public int? Status { get; } = status;

    /// <summary>Auth and bad requests fail the same way however often they are retried.</summary>
    public bool Retryable => ErrorType is not ("auth" or "bad_request");

    public static string Classify(HttpStatusCode status) => (int)status switch
    {
        429 => "rate_limited",
        529 or 503 => "overloaded",
        401 or 403 => "auth",
        408 or 504 => "timeout",
        >= 400 and < 500 => "bad_request",
        _ => "provider_error",
    };

    /// <summary>Finds the classified failure anywhere in an SDK's exception chain.</summary>
    public static LlmProviderException? Find(Exception? e)
    {
        for (; e is not null; e = e.InnerException)
        {
            if (e is LlmProviderException found)
            {
                return found;
            }
        }
        return null;
    }
}
