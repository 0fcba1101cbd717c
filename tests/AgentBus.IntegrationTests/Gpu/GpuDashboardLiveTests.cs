using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace AgentBus.IntegrationTests.Gpu;

/// <summary>
/// Every query of the GPU Grafana dashboard (k8s/monitoring/grafana-dashboard-gpu.json) run against
/// a real Prometheus (Debian's prometheus, on loopback) that scrapes the recorded two-H100 gpu-agent
/// while a GPU job runs, with the target labels the Kubernetes relabeling gives.
/// </summary>
public sealed class GpuDashboardLiveTests(GpuAppFixture fixture) : IClassFixture<GpuAppFixture>, IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("agentbus-prometheus-").FullName;

    [Fact]
    public async Task Every_gpu_dashboard_query_returns_data_from_a_live_prometheus()
    {
        using var agent = fixture.CreateClient("gpu-agent");
        var port = LocalServer.FreePort();
        await File.WriteAllTextAsync(Path.Combine(_dir, "prometheus.yml"), $"""
            global:
              scrape_interval: 1s
            scrape_configs:
              - job_name: agent-bus
                static_configs:
                  - targets: ["{agent.BaseAddress!.Authority}"]
                    labels: {"{"}namespace: agent-bus, component: gpu-agent, pod: gpu-agent-live-test{"}"}
            """);
        using var prometheus = Process.Start(new ProcessStartInfo("prometheus",
            [$"--config.file={Path.Combine(_dir, "prometheus.yml")}", $"--storage.tsdb.path={Path.Combine(_dir, "data")}", $"--web.listen-address=127.0.0.1:{port}"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        var log = prometheus.StandardError.ReadToEndAsync();
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
        try
        {
            await AgentBusAppFixture.EventuallyAsync(async () => await ResultAsync(http, "up{job=\"agent-bus\"} == 1"), r => r?.Count == 1,
                TimeSpan.FromSeconds(30), "prometheus scraping the gpu-agent");

            // A GPU job while it scrapes: task counters and duration buckets move between samples.
            using var api = fixture.Api();
            using var created = await api.Http.PostAsJsonAsync("/api/projects", new { name = "PCB inspection, watched", requirements = GpuNodeTests.MlRequirements });
            var jobId = Guid.Parse((string)(await created.Content.ReadFromJsonAsync<JsonObject>())!["job_id"]!);
            await api.WaitForStatusAsync(jobId, "waiting_for_approval");
            (await api.ActAsync(jobId, "approve")).Dispose();
            await api.WaitForStatusAsync(jobId, "completed", TimeSpan.FromSeconds(90));
            await Task.Delay(TimeSpan.FromSeconds(3));

            var queries = DashboardQueries();
            // tests/monitoring/queries.txt lists the same queries (check.sh keeps it generated from the dashboards).
            Assert.Equal(File.ReadLines(Path.Combine(Repository.Root, "tests", "monitoring", "queries.txt"))
                .Count(l => l.StartsWith("# source: grafana-dashboard-gpu.json /", StringComparison.Ordinal)), queries.Count);
            foreach (var (panel, query) in queries)
            {
                var result = await ResultAsync(http, query);
                Assert.True(result is { Count: > 0 }, $"{panel}: no series for {query}");
                Assert.True(result.Any(s => double.IsFinite(double.Parse((string)s!["value"]![1]!, System.Globalization.CultureInfo.InvariantCulture))),
                    $"{panel}: no finite value for {query}: {result.ToJsonString()}");
                TestContext.Current.SendDiagnosticMessage($"{panel}: {result.ToJsonString()}");
            }
            var gpus = await ResultAsync(http, "sum(agent_bus_gpu_count{namespace=~\"agent-bus\", node=~\".*\"})");
            Assert.Equal("2", (string?)gpus![0]!["value"]![1]);
        }
        finally
        {
            prometheus.Kill();
            await prometheus.WaitForExitAsync();
            if (TestContext.Current.TestState?.Result == TestResult.Failed)
            {
                TestContext.Current.SendDiagnosticMessage(await log);
            }
        }
    }

    /// <summary>The dashboard's queries with its variables as queries.txt substitutes them.</summary>
    private static List<(string Panel, string Query)> DashboardQueries()
    {
        var dashboard = JsonNode.Parse(File.ReadAllText(Path.Combine(Repository.Root, "k8s", "monitoring", "grafana-dashboard-gpu.json")))!;
        return dashboard["panels"]!.AsArray()
            .SelectMany(p => (p!["targets"]?.AsArray() ?? []).Select(t => ((string)p["title"]!, (string)t!["expr"]!)))
            .Select(q => (q.Item1, q.Item2.Replace("$namespace", "agent-bus", StringComparison.Ordinal).Replace("$node", ".*", StringComparison.Ordinal)
                .Replace("$__rate_interval", "5m", StringComparison.Ordinal).Replace("$__range", "1h", StringComparison.Ordinal)))
            .ToList();
    }

    private static async Task<JsonArray?> ResultAsync(HttpClient prometheus, string query)
    {
        try
        {
            var answer = await prometheus.GetFromJsonAsync<JsonObject>($"/api/v1/query?query={Uri.EscapeDataString(query)}");
            Assert.Equal("success", (string?)answer!["status"]);
            return answer["data"]!["result"]!.AsArray();
        }
        catch (HttpRequestException e) when (e.StatusCode is null or HttpStatusCode.ServiceUnavailable)
        {
            return null; // not listening yet
        }
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
