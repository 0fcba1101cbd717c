using System.Text.RegularExpressions;
using AgentBus.Client;

namespace AgentBus.Web.Api;

/// <summary>
/// Downloads for the signed-in person, streamed from the api with their credential: one artifact
/// (a version of it) as a file, or all of a job's deliverables as the api's zip.
/// </summary>
public static partial class DownloadEndpoints
{
    public static IEndpointRouteBuilder MapDownloadEndpoints(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/download/jobs/{jobId:guid}").RequireAuthorization();
        group.MapGet("/artifacts.zip", (Guid jobId, AgentBusApi api, HttpContext context) =>
            CopyAsync(api, $"/api/jobs/{jobId}/artifacts.zip", context));
        group.MapGet("/artifacts/{type}", async (Guid jobId, string type, int? version, AgentBusApi api, HttpContext context) =>
        {
            if (!ArtifactType().IsMatch(type))
            {
                return Results.NotFound();
            }
            var artifact = await api.With(new PrincipalCredential(context.User)).GetArtifactAsync(jobId, type, version, context.RequestAborted);
            if (artifact.Value is not { } found)
            {
                return Results.Problem(statusCode: (int)artifact.Problem!.Status, detail: artifact.Problem.Message);
            }
            var extension = found.ContentType.Contains("json", StringComparison.OrdinalIgnoreCase) ? "json" : "md";
            return Results.File(System.Text.Encoding.UTF8.GetBytes(found.Content), found.ContentType, $"{found.Type}-v{found.Version}.{extension}");
        });
        return app;
    }

    /// <summary>Streams a download from the api to the response, with its status and file headers.</summary>
    private static async Task CopyAsync(AgentBusApi api, string path, HttpContext context)
    {
        // The request's own user: an endpoint, not a page, so no circuit's authentication state.
        using var response = await api.With(new PrincipalCredential(context.User)).OpenAsync(path, context.RequestAborted);
        context.Response.StatusCode = (int)response.StatusCode;
        foreach (var header in new[] { "Content-Type", "Content-Disposition" })
        {
            if (response.Content.Headers.TryGetValues(header, out var values))
            {
                context.Response.Headers[header] = values.ToArray();
            }
        }
        await response.Content.CopyToAsync(context.Response.Body, context.RequestAborted);
    }

    [GeneratedRegex("^[a-z_]{1,40}$")]
    private static partial Regex ArtifactType();
}
