using System.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace AgentBus.Telemetry;

/// <summary>
/// agent_bus_http_requests_total and agent_bus_http_request_duration_seconds, labelled by the route
/// template (never the raw path, whose ids would make the label unbounded).
/// </summary>
internal sealed class HttpMetricsMiddleware(RequestDelegate next, AgentBusMetrics metrics)
{
    private static readonly HashSet<string> KnownMethods = new(StringComparer.OrdinalIgnoreCase)
        { "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS" };

    public async Task InvokeAsync(HttpContext context)
    {
        var start = Stopwatch.GetTimestamp();
        var failed = false;
        try
        {
            await next(context);
        }
        catch
        {
            // An exception that reaches this far becomes a 500 (the exception handler, where one is outside): count it as one.
            failed = true;
            metrics.RecordError("unhandled_exception");
            throw;
        }
        finally
        {
            var endpoint = RouteLabel((context.GetEndpoint() as RouteEndpoint)?.RoutePattern.RawText);
            var method = KnownMethods.Contains(context.Request.Method) ? context.Request.Method.ToUpperInvariant() : "OTHER";
            var tags = new TagList { { "method", method }, { "endpoint", endpoint } };
            metrics.HttpRequestDuration.Record(Stopwatch.GetElapsedTime(start).TotalSeconds, tags);
            tags.Add("status", failed ? "500" : StatusText(context.Response.StatusCode));
            metrics.HttpRequests.Add(1, tags);
        }
    }

    /// <summary>The route template without a trailing slash (a group's "" route renders as "/api/projects/").</summary>
    private static string RouteLabel(string? template) =>
        template is null ? "unmatched" : template.Length > 1 ? template.TrimEnd('/') : template;

    private static string StatusText(int status) => status is >= 100 and < 600 ? status.ToString(System.Globalization.CultureInfo.InvariantCulture) : "other";
}
