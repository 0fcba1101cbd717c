using System.Text.Json;
using Microsoft.AspNetCore.Diagnostics;

namespace AgentBus.Api;

/// <summary>
/// Turns request-binding failures (malformed JSON, wrong types, unparsable route values, a body
/// over the size limit) into 4xx problem+json with the offending JSON path, never a 500 and
/// never a stack trace or type name.
/// </summary>
public sealed class BadRequestHandler(IProblemDetailsService problems) : IExceptionHandler
{
    public const int MaxBodyBytes = 1024 * 1024;
    public const string TooLargeTitle = "The request body is too large";
    public const string TooLargeDetail = "The request body exceeds the 1 MiB limit.";

    public async ValueTask<bool> TryHandleAsync(HttpContext context, Exception exception, CancellationToken ct)
    {
        if (exception is not BadHttpRequestException bad)
        {
            return false;
        }
        var path = (bad.InnerException as JsonException)?.Path;
        context.Response.StatusCode = bad.StatusCode;
        return await problems.TryWriteAsync(new ProblemDetailsContext
        {
            HttpContext = context,
            Exception = exception,
            ProblemDetails =
            {
                Status = bad.StatusCode,
                Title = bad.StatusCode == StatusCodes.Status413PayloadTooLarge ? TooLargeTitle : "The request could not be read",
                Detail = bad.StatusCode == StatusCodes.Status413PayloadTooLarge
                    ? TooLargeDetail
                    : path is null ? "A value in the request is malformed or of the wrong type." : $"The JSON value at {path} is malformed or of the wrong type.",
            },
        });
    }
}
