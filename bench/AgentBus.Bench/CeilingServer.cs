namespace AgentBus.Bench;

/// <summary>
/// "ceiling": an empty ASP.NET Core minimal API with the same two routes as the api, answering at
/// once with small JSON, no database, no telemetry: what any endpoint on this machine can reach.
/// "otlp-sink": accepts OTLP/HTTP exports and drops them, so the "telemetry on" runs pay for
/// exporting as they would with a collector.
/// </summary>
public static class CeilingServer
{
    public static async Task RunAsync(BenchArgs args)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls($"http://127.0.0.1:{args.Int("port", 18190)}");
        var app = builder.Build();
        if (args.Command == "ceiling")
        {
            app.MapGet("/api/jobs/{job_id}", (Guid job_id) => TypedResults.Ok(new Job(job_id, "queued")));
            app.MapPost("/api/projects", async (HttpRequest request) =>
            {
                await request.Body.CopyToAsync(Stream.Null);
                return TypedResults.Created("/api/projects/x", new Job(Guid.NewGuid(), "queued"));
            });
        }
        else
        {
            // An empty protobuf message is a valid Export*ServiceResponse.
            app.MapPost("/v1/{signal}", async (HttpRequest request) =>
            {
                await request.Body.CopyToAsync(Stream.Null);
                return Microsoft.AspNetCore.Http.Results.Bytes([], "application/x-protobuf");
            });
        }
        await app.RunAsync();
    }

    private sealed record Job(Guid JobId, string Status);
}
