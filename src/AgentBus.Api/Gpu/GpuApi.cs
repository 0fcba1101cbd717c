using AgentBus.Api.Security;
using AgentBus.Gpu;
using Microsoft.AspNetCore.Http.HttpResults;
using StackExchange.Redis;

namespace AgentBus.Api.Gpu;

public static class GpuApi
{
    public static IEndpointRouteBuilder MapGpuApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/gpu").WithTags("GPU").RequireAuthorization(Roles.Viewer);
        group.MapGet("/nodes", ListNodes).WithName("ListGpuNodes")
            .WithSummary("Nodes whose gpu-agent heartbeat is live: their GPUs, free capacity and running tasks.");
        return app;
    }

    public static async Task<Results<Ok<GpuNodeList>, ProblemHttpResult>> ListNodes(GpuNodeRegistry registry)
    {
        try
        {
            var nodes = await registry.ListAsync();
            return TypedResults.Ok(new GpuNodeList(nodes, nodes.Count, nodes.Sum(n => n.GpuCount), nodes.Sum(n => n.FreeSlots)));
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            return TypedResults.Problem(statusCode: StatusCodes.Status503ServiceUnavailable, title: "GPU node registry unavailable",
                detail: "Redis, which holds the GPU nodes' heartbeats, did not answer; try again shortly.");
        }
    }
}
