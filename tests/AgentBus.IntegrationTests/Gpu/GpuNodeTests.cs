using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace AgentBus.IntegrationTests.Gpu;

/// <summary>The gpu-agent as a recorded node of two H100s: telemetry, registry, routing, leasing, crashes.</summary>
public sealed class GpuNodeTests(GpuAppFixture fixture) : IClassFixture<GpuAppFixture>
{
    public const string MlRequirements =
        "Train a YOLOv8 object detection model on 20,000 labelled images of circuit boards. " +
        "Inspectors review flagged boards in a web page and confirm or reject each defect.";

    private sealed record RecordedGpu(string Index, string Uuid, string Name, double Utilization, double MemoryUsedMiB, double MemoryTotalMiB, double Temperature, double Power);

    /// <summary>The fixture read here on its own, not with the agent's parser: the test must not share the code it checks.</summary>
    private static List<RecordedGpu> Recorded() =>
        File.ReadAllLines(GpuAppFixture.RecordedPath).Where(l => l.Length > 0).Select(l => l.Split(", ")).Select(f => new RecordedGpu(
            f[0], f[1], f[2], D(f[3]), D(f[4]), D(f[5]), D(f[6]), D(f[7]))).ToList();

    private static double D(string value) => double.Parse(value, CultureInfo.InvariantCulture);

    [Fact]
    public async Task The_recorded_node_metrics_match_the_fixture_exactly()
    {
        using var agent = fixture.CreateClient("gpu-agent");
        var metrics = await AgentBusAppFixture.EventuallyAsync(async () => PrometheusText.Parse(await agent.GetStringAsync("/metrics")),
            m => m.Named("agent_bus_gpu_count").Any(), TimeSpan.FromSeconds(15), "the gpu-agent exporting its GPUs");
        var gpus = Recorded();
        Assert.Equal(2, gpus.Count);

        var count = Assert.Single(metrics.Named("agent_bus_gpu_count"));
        Assert.Equal(GpuAppFixture.Node, count.Labels["node"]);
        Assert.Equal(2, count.Value);
        foreach (var name in new[] { "agent_bus_gpu_count", "agent_bus_gpu_utilization_ratio", "agent_bus_gpu_memory_used_bytes", "agent_bus_gpu_memory_total_bytes",
            "agent_bus_gpu_temperature_celsius", "agent_bus_gpu_power_watts" })
        {
            Assert.Equal("gauge", metrics.Types[name]);
        }
        // Task counters start at 0 for every GPU and status, so increase() sees each GPU's first task.
        Assert.Equal(gpus.SelectMany(g => new[] { "completed", "failed", "interrupted" }.Select(status => (g.Index, g.Uuid, status))).Order(),
            metrics.Named("agent_bus_gpu_tasks_total").Select(s => (s.Labels["gpu"], s.Labels["uuid"], s.Labels["status"])).Order());
        foreach (var gpu in gpus)
        {
            double Value(string metric)
            {
                var sample = Assert.Single(metrics.Named(metric), s => s.Labels.GetValueOrDefault("gpu") == gpu.Index);
                Assert.Equal(GpuAppFixture.Node, sample.Labels["node"]);
                Assert.Equal(gpu.Uuid, sample.Labels["uuid"]);
                return sample.Value;
            }
            Assert.Equal(gpu.Utilization / 100, Value("agent_bus_gpu_utilization_ratio"));
            Assert.Equal(gpu.Name, Assert.Single(metrics.Named("agent_bus_gpu_utilization_ratio"), s => s.Labels["gpu"] == gpu.Index).Labels["name"]);
            Assert.Equal(gpu.MemoryUsedMiB * 1024 * 1024, Value("agent_bus_gpu_memory_used_bytes"));
            Assert.Equal(gpu.MemoryTotalMiB * 1024 * 1024, Value("agent_bus_gpu_memory_total_bytes"));
            Assert.Equal(gpu.Temperature, Value("agent_bus_gpu_temperature_celsius"));
            Assert.Equal(gpu.Power, Value("agent_bus_gpu_power_watts"));
        }
        TestContext.Current.SendDiagnosticMessage(string.Join('\n', metrics.Samples.Where(s => s.Name.StartsWith("agent_bus_gpu_", StringComparison.Ordinal) && !s.Name.EndsWith("_bucket", StringComparison.Ordinal))
            .Select(s => $"{s.Name}{{{string.Join(',', s.Labels.Where(l => l.Key != "otel_scope_name").Select(l => $"{l.Key}=\"{l.Value}\""))}}} {s.Value.ToString(CultureInfo.InvariantCulture)}")));
    }

    [Fact]
    public async Task The_api_lists_the_live_node_with_its_gpus_free_capacity_and_endpoints()
    {
        using var api = fixture.Api();
        var nodes = await AgentBusAppFixture.EventuallyAsync(() => api.Http.GetFromJsonAsync<JsonObject>("/api/gpu/nodes"), n => (int?)n!["free_slots"] == 2,
            TimeSpan.FromSeconds(15), "both GPUs free");

        Assert.Equal(1, (int)nodes!["total"]!);
        Assert.Equal(2, (int)nodes["gpu_count"]!);
        var node = nodes["items"]!.AsArray().Single()!;
        Assert.Equal(GpuAppFixture.Node, (string?)node["node"]);
        Assert.Equal("recorded", (string?)node["source"]);
        Assert.Null(node["source_error"]);
        Assert.Empty(node["running_task_ids"]!.AsArray());
        var recorded = Recorded();
        var gpus = node["gpus"]!.AsArray();
        Assert.Equal(recorded.Select(g => g.Uuid), gpus.Select(g => (string?)g!["uuid"]));
        Assert.Equal(recorded.Select(g => (long)((g.MemoryTotalMiB - g.MemoryUsedMiB) * 1024 * 1024)), gpus.Select(g => (long)g!["memory_free_bytes"]!));
        Assert.All(gpus, g => Assert.Equal(1, (int)g!["free_slots"]!));
        Assert.Null(gpus[0]!["inference_endpoint"]);
        Assert.Equal(new Uri(fixture.ModelServer.BaseUrl, "v1").ToString(), (string?)gpus[1]!["inference_endpoint"]);
    }

    [Fact]
    public async Task Ml_and_cv_projects_go_to_gpu_a_web_app_with_a_cve_section_does_not_and_requires_gpu_overrides_both()
    {
        using var api = fixture.Api();
        var cases = new (string Name, string Requirements, bool? RequiresGpu, string Queue)[]
        {
            ("PCB inspection", MlRequirements, null, "gpu"),
            ("Shelf monitoring", "Use computer vision on store camera images: semantic segmentation finds empty shelf space.", null, "gpu"),
            ("Customer portal", "Customers pay invoices online. Security: no dependency may carry a CVE with CVSS 7.0 or more; patch CVE-2024-3094 (CVSS 10.0).", null, "cpu"),
            ("PCB inspection, forced to cpu", MlRequirements, false, "cpu"),
            ("Customer portal, forced to gpu", "Customers pay invoices online.", true, "gpu"),
        };
        foreach (var (name, requirements, requiresGpu, queue) in cases)
        {
            var jobId = await CreateAsync(api, name, requirements, requiresGpu);
            var routing = (await api.GetJobAsync(jobId))["routing"]!;
            Assert.True(queue == (string?)routing["queue"], $"{name}: {routing.ToJsonString()}");
            Assert.Equal(queue == "gpu", (bool)routing["requires_gpu"]!);
            Assert.Null(routing["fallback_reason"]);
            if (requiresGpu is { } requested)
            {
                Assert.StartsWith($"requires_gpu={(requested ? "true" : "false")} was set", (string?)routing["reasons"]![0], StringComparison.Ordinal);
            }
            var prd = (await fixture.EventsAsync(jobId)).Single(e => (string?)e["type"] == "stage_queued");
            Assert.Equal(queue, (string?)prd["data"]!["queue"]);
            await api.WaitForStatusAsync(jobId, "waiting_for_approval");
            (await api.ActAsync(jobId, "cancel")).Dispose();
        }

        using var project = await api.Http.GetAsync($"/api/projects/{(await api.Http.GetFromJsonAsync<JsonObject>("/api/projects?limit=1"))!["items"]![0]!["project_id"]}");
        Assert.Equal("gpu", (string?)(await project.Content.ReadFromJsonAsync<JsonObject>())!["latest_job"]!["routing"]!["queue"]);

        using var bad = await api.Http.PostAsJsonAsync("/api/projects", new Dictionary<string, object?> { ["name"] = "x", ["requirements"] = "y", ["requires_gpu"] = "yes" });
        Assert.Equal("The JSON value at $.requires_gpu is malformed or of the wrong type.", (string?)(await AgentBusClient.ProblemAsync(bad, HttpStatusCode.BadRequest))["detail"]);
    }

    [Fact]
    public async Task A_gpu_routed_job_completes_with_its_stages_spread_over_both_gpus()
    {
        using var api = fixture.Api();
        using var agent = fixture.CreateClient("gpu-agent");
        var before = PrometheusText.Parse(await agent.GetStringAsync("/metrics"));
        var localCallsBefore = fixture.ModelServer.Requests.Count;

        var jobId = await CreateAsync(api, "PCB inspection", MlRequirements, null);
        await api.WaitForStatusAsync(jobId, "waiting_for_approval");
        (await api.ActAsync(jobId, "approve")).Dispose();
        var job = await api.WaitForStatusAsync(jobId, "completed", TimeSpan.FromSeconds(90));

        Assert.Equal("gpu", (string?)job["routing"]!["queue"]);
        Assert.Null(job["routing"]!["fallback_reason"]);
        var events = await fixture.EventsAsync(jobId);
        Assert.All(events.Where(e => (string?)e["type"] == "stage_queued"), e => Assert.Equal("gpu", (string?)e["data"]!["queue"]));
        var consumers = events.Where(e => (string?)e["type"] == "stage_started").Select(e => (string)e["data"]!["consumer"]!).ToList();
        Assert.Equal(11, consumers.Count);
        Assert.All(consumers, c => GpuAppFixture.GpuAgentPid(c));

        var after = PrometheusText.Parse(await agent.GetStringAsync("/metrics"));
        double Completed(PrometheusText m, string gpu) =>
            m.Sum("agent_bus_gpu_tasks_total", l => l["node"] == GpuAppFixture.Node && l["gpu"] == gpu && l["status"] == "completed");
        var perGpu = Recorded().ToDictionary(g => g.Index, g => Completed(after, g.Index) - Completed(before, g.Index));
        TestContext.Current.SendDiagnosticMessage($"stages per GPU: {string.Join(", ", perGpu.Select(p => $"gpu {p.Key}: {p.Value}"))}");
        Assert.Equal(11, perGpu.Values.Sum());
        Assert.All(perGpu.Values, n => Assert.InRange(n, 4, 7));
        Assert.Equal("counter", after.Types["agent_bus_gpu_tasks_total"]);
        Assert.Equal(11, after.Sum("agent_bus_gpu_task_duration_seconds_count") - before.Sum("agent_bus_gpu_task_duration_seconds_count"));
        Assert.Contains(after.Named("agent_bus_gpu_task_duration_seconds_bucket"), s => s.Labels["le"] == "600" && s.Labels["gpu"] == "1");
        Assert.Empty(await fixture.LeaseKeysAsync());

        // Stages on GPU 1 called its node-local inference server; those on GPU 0 the configured provider.
        var localCalls = fixture.ModelServer.Requests.Skip(localCallsBefore).ToList();
        var onGpu1 = (int)perGpu["1"];
        Assert.InRange(localCalls.Count, Math.Max(1, onGpu1 - 1), onGpu1); // delivery makes no model call
        Assert.All(localCalls, r => Assert.Equal("llama-3.1-8b-instruct", (string?)r.Body["model"]));
        var usage = (await api.Http.GetFromJsonAsync<JsonObject>($"/api/jobs/{jobId}/usage"))!;
        var local = usage["by_model"]!.AsArray().Single(m => (string?)m!["model"] == "llama-3.1-8b-instruct")!;
        Assert.Equal(("openai", localCalls.Count), ((string?)local["provider"], (int)(long)local["calls"]!));
        Assert.Equal(10 - localCalls.Count, (long)usage["by_model"]!.AsArray().Single(m => (string?)m!["model"] == "offline-writer-1")!["calls"]!);
    }

    [Fact]
    public async Task Killing_the_gpu_agent_mid_stage_leaves_no_stuck_lease_and_the_job_completes()
    {
        using var api = fixture.Api();
        var jobId = await CreateAsync(api, "PCB inspection, crash", MlRequirements, null);
        await api.WaitForStatusAsync(jobId, "waiting_for_approval");
        (await api.ActAsync(jobId, "approve")).Dispose();
        var started = await fixture.WaitForStageStartedAsync(jobId, "development");
        var pid = GpuAppFixture.GpuAgentPid((string)started["data"]!["consumer"]!);

        var nodes = await AgentBusAppFixture.EventuallyAsync(() => api.Http.GetFromJsonAsync<JsonObject>("/api/gpu/nodes"),
            n => n!["items"]![0]!["gpus"]!.AsArray().Any(g => g!["running_tasks"]!.AsArray().Any(t => (string?)t!["stage"] == "development")),
            TimeSpan.FromSeconds(5), "the development stage holding a GPU");
        Assert.Equal(1, (int)nodes!["free_slots"]!);
        var held = Assert.Single(await fixture.LeaseKeysAsync());
        Assert.InRange(held.Ttl!.Value, TimeSpan.Zero, TimeSpan.FromSeconds(5));

        await GpuAppFixture.KillAsync(pid);
        // Nobody renews or releases it now: the lease must lapse on its own.
        await AgentBusAppFixture.EventuallyAsync(fixture.LeaseKeysAsync, k => k.Count == 0, TimeSpan.FromSeconds(8), "the dead agent's GPU lease expiring");
        await fixture.RestartGpuAgentAsync();

        var job = await api.WaitForStatusAsync(jobId, "completed", TimeSpan.FromSeconds(90));
        var development = job["stages"]!.AsArray().Single(s => (string?)s!["stage"] == "development")!;
        Assert.Equal(2, (int)development["attempts"]!);
        Assert.Equal("gpu", (string?)job["routing"]!["queue"]);
        Assert.Null(job["routing"]!["fallback_reason"]);
        var runs = (await fixture.EventsAsync(jobId)).Where(e => (string?)e["type"] == "stage_started" && (string?)e["stage"] == "development").ToList();
        Assert.Equal(2, runs.Count);
        GpuAppFixture.GpuAgentPid((string)runs[1]["data"]!["consumer"]!);

        Assert.Empty(await fixture.LeaseKeysAsync());
        var free = await api.Http.GetFromJsonAsync<JsonObject>("/api/gpu/nodes");
        Assert.Equal(2, (int)free!["free_slots"]!);
        Assert.Single(await api.ArtifactsAsync(jobId), a => (string?)a!["type"] == "development");
    }

    [Fact]
    public async Task When_the_last_gpu_node_dies_its_queued_work_moves_to_cpu_and_the_job_says_why()
    {
        using var api = fixture.Api();
        var jobId = await CreateAsync(api, "PCB inspection, node lost", MlRequirements, null);
        await api.WaitForStatusAsync(jobId, "waiting_for_approval");
        (await api.ActAsync(jobId, "approve")).Dispose();
        var started = await fixture.WaitForStageStartedAsync(jobId, "development");
        await GpuAppFixture.KillAsync(GpuAppFixture.GpuAgentPid((string)started["data"]!["consumer"]!));

        try
        {
            // Heartbeat lapses after 4 s, the worker waits 30 s more, then moves the pending task to cpu.
            var job = await api.WaitForStatusAsync(jobId, "completed", TimeSpan.FromSeconds(90));
            var routing = job["routing"]!;
            Assert.True((bool)routing["requires_gpu"]!);
            Assert.Equal("cpu", (string?)routing["queue"]);
            Assert.Contains("no GPU node", (string?)routing["fallback_reason"], StringComparison.Ordinal);

            var events = await fixture.EventsAsync(jobId);
            var development = events.Where(e => (string?)e["type"] == "stage_started" && (string?)e["stage"] == "development").ToList();
            Assert.Equal(2, development.Count);
            Assert.Throws<InvalidOperationException>(() => GpuAppFixture.GpuAgentPid((string)development[1]["data"]!["consumer"]!));
            var later = events.SkipWhile(e => !((string?)e["type"] == "stage_completed" && (string?)e["stage"] == "development"))
                .Where(e => (string?)e["type"] == "stage_queued").ToList();
            Assert.NotEmpty(later);
            Assert.All(later, e => Assert.Equal("cpu", (string?)e["data"]!["queue"]));
        }
        finally
        {
            await fixture.RestartGpuAgentAsync();
        }
    }

    private static async Task<Guid> CreateAsync(AgentBusClient api, string name, string requirements, bool? requiresGpu)
    {
        using var response = await api.Http.PostAsJsonAsync("/api/projects",
            new Dictionary<string, object?> { ["name"] = name, ["requirements"] = requirements, ["requires_gpu"] = requiresGpu });
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return Guid.Parse((string)(await response.Content.ReadFromJsonAsync<JsonObject>())!["job_id"]!);
    }
}
