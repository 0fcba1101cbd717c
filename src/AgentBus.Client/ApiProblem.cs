using System.Net;
using System.Text.Json;

namespace AgentBus.Client;

/// <summary>
/// What the api said when it refused a call (its problem+json): the status, one plain sentence
/// for the page, the per-field errors of a 400, and the trace id an operator can look up.
/// </summary>
public sealed record ApiProblem(HttpStatusCode Status, string Message, IReadOnlyDictionary<string, string[]> Errors, string? TraceId)
{
    public static async Task<ApiProblem> ReadAsync(HttpResponseMessage response, CancellationToken ct)
    {
        string? title = null, detail = null, traceId = null;
        var errors = new Dictionary<string, string[]>(StringComparer.OrdinalIgnoreCase);
        try
        {
            using var document = await JsonDocument.ParseAsync(await response.Content.ReadAsStreamAsync(ct), cancellationToken: ct);
            var root = document.RootElement;
            title = Text(root, "title");
            detail = Text(root, "detail");
            traceId = Text(root, "trace_id") ?? Text(root, "traceId");
            if (root.TryGetProperty("errors", out var fields) && fields.ValueKind == JsonValueKind.Object)
            {
                foreach (var field in fields.EnumerateObject())
                {
                    errors[field.Name] = field.Value.ValueKind == JsonValueKind.Array
                        ? field.Value.EnumerateArray().Select(e => e.ToString()).ToArray()
                        : [field.Value.ToString()];
                }
            }
        }
        catch (JsonException)
        {
            // Not problem+json (a proxy's error page): the status alone speaks.
        }
        var message = detail ?? title ?? Describe(response.StatusCode);
        return new ApiProblem(response.StatusCode, message, errors, traceId);
    }

    /// <summary>The api did not answer at all.</summary>
    public static ApiProblem Unreachable(Exception e) =>
        new(HttpStatusCode.ServiceUnavailable, $"The Agent Bus API did not answer ({e.GetType().Name}). Try again in a moment.",
            new Dictionary<string, string[]>(), null);

    public bool IsConflict => Status == HttpStatusCode.Conflict;

    /// <summary>The message as one sentence, with the trace id when there is one.</summary>
    public override string ToString() => TraceId is null ? Message : $"{Message} (trace {TraceId})";

    private static string? Text(JsonElement root, string name) =>
        root.ValueKind == JsonValueKind.Object && root.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static string Describe(HttpStatusCode status) => status switch
    {
        HttpStatusCode.Unauthorized => "Your sign-in is no longer valid. Sign in again.",
        HttpStatusCode.Forbidden => "Your role may not do this.",
        HttpStatusCode.NotFound => "Not found.",
        HttpStatusCode.Conflict => "This does not fit the job's state any more.",
        HttpStatusCode.TooManyRequests => "Too many requests: wait a moment and try again.",
        _ => $"The API answered {(int)status}.",
    };
}

/// <summary>An api answer: the value, or the problem that took its place.</summary>
public readonly record struct ApiResult<T>(T? Value, ApiProblem? Problem)
{
    public bool Ok => Problem is null;
}
