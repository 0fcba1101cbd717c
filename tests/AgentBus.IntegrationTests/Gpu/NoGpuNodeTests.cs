using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace AgentBus.IntegrationTests.Gpu;

/// <summary>The standard topology on this machine: a gpu-agent that finds no GPU.</summary>
[Collection(AppHostCollection.Name)]
public sealed class NoGpuNodeTests(AppHostFixture fixture)
{
    [Fact]
    public async Task Without_a_gpu_the_agent_is_ready_reports_zero_gpus_and_is_listed_with_the_reason()
    {
        using var agent = fixture.CreateClient("gpu-agent");
        using var ready = await agent.GetAsync("/health/ready");
        Assert.True(ready.IsSuccessStatusCode);

        var metrics = await AgentBusAppFixture.EventuallyAsync(async () => PrometheusText.Parse(await agent.GetStringAsync("/metrics")),
            m => m.Named("agent_bus_gpu_count").Any(), TimeSpan.FromSeconds(15), "the gpu-agent exporting its GPU count");
        Assert.Equal(0, Assert.Single(metrics.Named("agent_bus_gpu_count")).Value);
        Assert.Empty(metrics.Named("agent_bus_gpu_utilization_ratio"));

        using var api = fixture.Api();
        var nodes = await api.Http.GetFromJsonAsync<JsonObject>("/api/gpu/nodes");
        Assert.Equal(0, (int)nodes!["gpu_count"]!);
        Assert.Equal(0, (int)nodes["free_slots"]!);
        var node = Assert.Single(nodes["items"]!.AsArray())!;
        Assert.Equal("none", (string?)node["source"]);
        Assert.Contains("libnvidia-ml.so.1", (string?)node["source_error"], StringComparison.Ordinal);
        Assert.Empty(node["gpus"]!.AsArray());
    }

    [Fact]
    public async Task With_no_gpu_node_an_ml_job_runs_on_cpu_and_records_why()
    {
        using var api = fixture.Api();
        using var created = await api.Http.PostAsJsonAsync("/api/projects", new { name = "PCB inspection", requirements = GpuNodeTests.MlRequirements });
        var jobId = Guid.Parse((string)(await created.Content.ReadFromJsonAsync<JsonObject>())!["job_id"]!);
        await api.WaitForStatusAsync(jobId, "waiting_for_approval");
        (await api.ActAsync(jobId, "approve")).Dispose();
        var job = await api.WaitForStatusAsync(jobId, "completed");

        var routing = job["routing"]!;
        Assert.True((bool)routing["requires_gpu"]!);
        Assert.InRange((double)routing["confidence"]!, 0.5, 1);
        Assert.Contains(routing["reasons"]!.AsArray(), r => ((string)r!).Contains("YOLOv8", StringComparison.Ordinal));
        Assert.Equal("cpu", (string?)routing["queue"]);
        Assert.StartsWith("no GPU node had a live heartbeat when stage", (string?)routing["fallback_reason"], StringComparison.Ordinal);

        var (_, plainJob) = await api.CreateProjectAsync("Clinic");
        Assert.Equal("""{"queue":"cpu","requires_gpu":false,"confidence":0,"reasons":[],"fallback_reason":null}""",
            (await api.GetJobAsync(plainJob))["routing"]!.ToJsonString());
        await api.WaitForStatusAsync(plainJob, "waiting_for_approval");
        (await api.ActAsync(plainJob, "cancel")).Dispose();
    }
}
