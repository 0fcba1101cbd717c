using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// /health/ready: 200 ready or 503 not, and each check with the failing ones named. A failing
/// check says what failed in a few words (its description), never an exception's text: that
/// goes to the logs, not to an anonymous caller.
/// </summary>
public static class ReadinessResponse
{
    public static async Task AnswerAsync(HttpContext context, ReadinessProbe probe)
    {
        var report = await probe.ReportAsync();
        context.Response.StatusCode = report.Status == HealthStatus.Unhealthy ? StatusCodes.Status503ServiceUnavailable : StatusCodes.Status200OK;
        context.Response.Headers.CacheControl = "no-store, no-cache";
        await WriteAsync(context, report);
    }

    private static Task WriteAsync(HttpContext context, HealthReport report)
    {
        var ready = report.Status != HealthStatus.Unhealthy;
        var body = new
        {
            status = ready ? "ready" : "not_ready",
            timestamp = DateTimeOffset.UtcNow.ToUnixTimeSeconds(),
            failing = report.Entries.Where(e => e.Value.Status == HealthStatus.Unhealthy).Select(e => e.Key).ToArray(),
            checks = report.Entries.ToDictionary(e => e.Key, e => new
            {
                status = e.Value.Status == HealthStatus.Healthy ? "healthy" : "unhealthy",
                duration_ms = Math.Round(e.Value.Duration.TotalMilliseconds, 1),
                error = e.Value.Status == HealthStatus.Healthy ? null : e.Value.Description ?? "unhealthy",
            }),
        };
        context.Response.ContentType = "application/json";
        return context.Response.WriteAsync(JsonSerializer.Serialize(body));
    }
}
