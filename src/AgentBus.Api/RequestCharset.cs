using Microsoft.Net.Http.Headers;

namespace AgentBus.Api;

/// <summary>
/// The API reads JSON as UTF-8 (RFC 8259). A request declaring another charset, or one no encoder
/// knows, is refused with 415 problem+json here: left to the JSON reader, an unknown charset fails
/// as a 500 and a known non-UTF-8 one is silently transcoded.
/// </summary>
public static class RequestCharset
{
    public static IApplicationBuilder UseUtf8RequestBodies(this IApplicationBuilder app) => app.Use(async (context, next) =>
    {
        if (MediaTypeHeaderValue.TryParse(context.Request.ContentType, out var type)
            && type.Charset.HasValue
            && !type.Charset.Value!.Trim('"', ' ').Equals("utf-8", StringComparison.OrdinalIgnoreCase))
        {
            context.Response.StatusCode = StatusCodes.Status415UnsupportedMediaType;
            await context.RequestServices.GetRequiredService<IProblemDetailsService>().WriteAsync(new ProblemDetailsContext
            {
                HttpContext = context,
                ProblemDetails =
                {
                    Status = StatusCodes.Status415UnsupportedMediaType,
                    Title = "Unsupported charset",
                    Detail = "Request bodies are JSON in UTF-8: send Content-Type: application/json (charset=utf-8 or none).",
                },
            });
            return;
        }
        await next(context);
    });
}
