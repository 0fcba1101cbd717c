using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using StackExchange.Redis;

namespace AgentBus.IntegrationTests.Fixtures;

/// <summary>
/// The topology with the gpu-agent replaying a recorded node of two H100s (tests/fixtures/gpu).
/// Short timings so a crash is seen quickly: heartbeat every 1 s living 4 s, GPU leases 5 s, queue
/// leases 6 s; the worker moves GPU work to cpu 30 s after the last GPU node died (far longer than a
/// gpu-agent restart takes). The development stage takes 4 s, long enough to kill it mid-way.
/// </summary>
public sealed class GpuAppFixture : ModelServerAppFixture
{
    public const string Node = "gpu-node-a";
    public static readonly string RecordedPath = Path.Combine(Repository.Root, "tests", "fixtures", "gpu", "two-h100.csv");

    /// <summary>
    /// The model server is GPU 1's node-local inference server (OpenAI-compatible); GPU 0 has none.
    /// As slow as the offline provider here: development takes 4 s wherever it runs.
    /// </summary>
    protected override AgentBus.Llm.OfflineOptions ModelWriter => new()
    {
        Latency = TimeSpan.Zero,
        LatencyByAgent = { ["developer_agent"] = TimeSpan.FromSeconds(4) },
    };

    protected override void Configure(IDistributedApplicationTestingBuilder builder)
    {
        builder.Project("gpu-agent")
            .WithEnvironment("AgentBus__Gpu__Source", "recorded")
            .WithEnvironment("AgentBus__Gpu__RecordedPath", RecordedPath)
            .WithEnvironment("AgentBus__Gpu__Node", Node)
            .WithEnvironment("AgentBus__Gpu__RefreshInterval", "00:00:01")
            .WithEnvironment("AgentBus__Gpu__HeartbeatTtl", "00:00:04")
            .WithEnvironment("AgentBus__Gpu__LeaseTtl", "00:00:05")
            .WithEnvironment("AgentBus__Gpu__InferenceEndpoints__1", new Uri(ModelServer.BaseUrl, "v1").ToString())
            .WithEnvironment("AgentBus__Gpu__InferenceModel", "llama-3.1-8b-instruct")
            .WithEnvironment("AgentBus__Queue__Lease", "00:00:06")
            .WithEnvironment("AgentBus__Worker__ShutdownGrace", "00:00:01")
            .WithEnvironment("AgentBus__Llm__Offline__LatencyByAgent__developer_agent", "00:00:04");
        builder.Project("worker")
            .WithEnvironment("AgentBus__Gpu__FallbackAfter", "00:00:30")
            .WithEnvironment("AgentBus__Gpu__FallbackCheckInterval", "00:00:01");
    }

    /// <summary>The GPU lease keys in Redis with their remaining time to live.</summary>
    public async Task<IReadOnlyList<(string Key, TimeSpan? Ttl)>> LeaseKeysAsync()
    {
        await using var redis = await ConnectionMultiplexer.ConnectAsync(await ConnectionStringAsync("redis"));
        var server = redis.GetServers().Single();
        var keys = new List<(string, TimeSpan?)>();
        await foreach (var key in server.KeysAsync(pattern: "agentbus:gpu:lease:*"))
        {
            keys.Add((key!, await redis.GetDatabase().KeyTimeToLiveAsync(key)));
        }
        return keys;
    }

    /// <summary>The pid in a consumer name (host:pid:random), checked to be the gpu-agent's.</summary>
    public static int GpuAgentPid(string consumer)
    {
        var pid = int.Parse(consumer.Split(':')[1], CultureInfo.InvariantCulture);
        var service = File.ReadAllText($"/proc/{pid}/environ").Split('\0')
            .FirstOrDefault(v => v.StartsWith("OTEL_SERVICE_NAME=", StringComparison.Ordinal))?["OTEL_SERVICE_NAME=".Length..];
        return service == "gpu-agent" ? pid : throw new InvalidOperationException($"pid {pid} is {service}, not the gpu-agent");
    }

    /// <summary>Brings the killed gpu-agent back, so the other tests have it.</summary>
    public async Task RestartGpuAgentAsync()
    {
        var restarted = DateTimeOffset.UtcNow;
        await RestartAsync("gpu-agent");
        using var api = Api();
        // A heartbeat written after the restart: the dead agent's may not have lapsed yet.
        await EventuallyAsync(() => api.Http.GetFromJsonAsync<JsonObject>("/api/gpu/nodes"),
            n => n!["items"]!.AsArray().Any(node => (int?)node!["gpu_count"] == 2 && node["heartbeat_at"]!.GetValue<DateTimeOffset>() > restarted),
            TimeSpan.FromSeconds(15), "the restarted gpu-agent registering its GPUs");
    }
}
