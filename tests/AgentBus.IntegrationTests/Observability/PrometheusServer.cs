using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;

namespace AgentBus.IntegrationTests.Observability;

/// <summary>
/// A real Prometheus (the Debian package's /usr/bin/prometheus) run by the test as a child process
/// on 127.0.0.1: scraping the given targets every second with the labels the Kubernetes relabeling
/// of k8s/monitoring/prometheus-config.yaml gives (job, namespace, component, pod), evaluating the
/// given rule file every second, keeping its data in a temporary folder removed on dispose.
/// </summary>
public sealed class PrometheusServer : IAsyncDisposable
{
    public const string Binary = "/usr/bin/prometheus";
    public const string Namespace = "agent-bus";
    public const string Job = "agent-bus";
    /// <summary>postgres_exporter and redis_exporter, as the agent-bus-exporters job of prometheus-config.yaml scrapes them.</summary>
    public const string ExporterJob = "agent-bus-exporters";

    private readonly Process _process;
    private readonly string _dir;
    private readonly StringBuilder _log = new();

    public HttpClient Http { get; }

    public string Log
    {
        get
        {
            lock (_log)
            {
                return _log.ToString();
            }
        }
    }

    private PrometheusServer(Process process, string dir, Uri baseUrl)
    {
        (_process, _dir) = (process, dir);
        Http = new HttpClient { BaseAddress = baseUrl, Timeout = TimeSpan.FromSeconds(30) };
    }

    /// <param name="targets">component name (api, worker, gpu-agent) to its http endpoint.</param>
    /// <param name="exporters">exporter name (postgres-exporter, redis-exporter) to its http endpoint.</param>
    public static async Task<PrometheusServer> StartAsync(IReadOnlyDictionary<string, Uri> targets, IReadOnlyDictionary<string, Uri> exporters, string ruleFile, CancellationToken ct)
    {
        if (!File.Exists(Binary))
        {
            throw new InvalidOperationException($"{Binary} not found: run scripts/ensure-prerequisites.sh test (apt-get install -y prometheus).");
        }
        var dir = Directory.CreateTempSubdirectory("agentbus-prometheus-").FullName;
        var config = new StringBuilder()
            .AppendLine("global:")
            .AppendLine("  scrape_interval: 1s")
            .AppendLine("  scrape_timeout: 1s")
            .AppendLine("  evaluation_interval: 1s")
            .AppendLine("rule_files:")
            .AppendLine(CultureInfo.InvariantCulture, $"  - {ruleFile}")
            .AppendLine("scrape_configs:")
            .AppendLine(CultureInfo.InvariantCulture, $"  - job_name: {Job}")
            .AppendLine("    metrics_path: /metrics")
            .AppendLine("    static_configs:");
        foreach (var (component, url) in targets)
        {
            config.AppendLine(CultureInfo.InvariantCulture, $"      - targets: ['{url.Authority}']")
                .AppendLine(CultureInfo.InvariantCulture, $"        labels: {{namespace: {Namespace}, component: {component}, pod: {component}-local}}");
        }
        if (exporters.Count > 0)
        {
            // postgres_exporter runs a dozen queries per scrape: on a busy 2-core machine that can
            // take longer than the services' 1 s.
            config.AppendLine(CultureInfo.InvariantCulture, $"  - job_name: {ExporterJob}")
                .AppendLine("    metrics_path: /metrics")
                .AppendLine("    scrape_interval: 2s")
                .AppendLine("    scrape_timeout: 2s")
                .AppendLine("    static_configs:");
            foreach (var (component, url) in exporters)
            {
                config.AppendLine(CultureInfo.InvariantCulture, $"      - targets: ['{url.Authority}']")
                    .AppendLine(CultureInfo.InvariantCulture, $"        labels: {{namespace: {Namespace}, component: {component}, pod: {component}-local}}");
            }
        }
        var configFile = Path.Combine(dir, "prometheus.yml");
        await File.WriteAllTextAsync(configFile, config.ToString(), ct);

        var port = LocalServer.FreePort();
        var start = new ProcessStartInfo(Binary,
        [
            $"--config.file={configFile}", $"--storage.tsdb.path={Path.Combine(dir, "data")}",
            $"--web.listen-address=127.0.0.1:{port}", "--log.level=warn",
        ])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = dir,
        };
        var process = Process.Start(start) ?? throw new InvalidOperationException("prometheus did not start");
        var server = new PrometheusServer(process, dir, new Uri($"http://127.0.0.1:{port}/"));
        process.OutputDataReceived += (_, e) => server.Append(e.Data);
        process.ErrorDataReceived += (_, e) => server.Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            if (process.HasExited)
            {
                await server.DisposeAsync();
                throw new InvalidOperationException($"prometheus exited with {process.ExitCode}:\n{server.Log}\nconfig:\n{config}");
            }
            try
            {
                using var ready = await server.Http.GetAsync("-/ready", ct);
                if (ready.StatusCode == HttpStatusCode.OK)
                {
                    return server;
                }
            }
            catch (HttpRequestException)
            {
            }
            if (DateTime.UtcNow > deadline)
            {
                await server.DisposeAsync();
                throw new TimeoutException($"prometheus not ready in 30 s:\n{server.Log}");
            }
            await Task.Delay(100, ct);
        }
    }

    /// <summary>GET /api/v1/{path}; fails unless Prometheus answers status "success". Returns "data".</summary>
    public async Task<JsonElement> ApiAsync(string pathAndQuery)
    {
        using var response = await Http.GetAsync("api/v1/" + pathAndQuery);
        var body = await response.Content.ReadAsStringAsync();
        using var json = JsonDocument.Parse(body);
        if (!response.IsSuccessStatusCode || json.RootElement.GetProperty("status").GetString() != "success")
        {
            throw new InvalidOperationException($"Prometheus answered {(int)response.StatusCode} to {pathAndQuery}: {body}");
        }
        return json.RootElement.GetProperty("data").Clone();
    }

    /// <summary>A range query with a 1 s step: each series' samples as (time, value).</summary>
    public async Task<IReadOnlyList<(IReadOnlyDictionary<string, string> Labels, IReadOnlyList<(DateTimeOffset Time, double Value)> Samples)>> QueryRangeAsync(
        string promql, DateTimeOffset start, DateTimeOffset end)
    {
        static string Unix(DateTimeOffset t) => (t.ToUnixTimeMilliseconds() / 1000.0).ToString("0.###", CultureInfo.InvariantCulture);
        var data = await ApiAsync($"query_range?query={Uri.EscapeDataString(promql)}&start={Unix(start)}&end={Unix(end)}&step=1");
        return data.GetProperty("result").EnumerateArray().Select(series => (
            (IReadOnlyDictionary<string, string>)series.GetProperty("metric").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!),
            (IReadOnlyList<(DateTimeOffset, double)>)series.GetProperty("values").EnumerateArray()
                .Select(v => (DateTimeOffset.FromUnixTimeMilliseconds((long)(v[0].GetDouble() * 1000)), double.Parse(v[1].GetString()!, CultureInfo.InvariantCulture)))
                .ToList())).ToList();
    }

    /// <summary>An instant query at <paramref name="time"/> (now when null): its samples as (labels, value).</summary>
    public async Task<IReadOnlyList<(IReadOnlyDictionary<string, string> Labels, double Value)>> QueryAsync(string promql, DateTimeOffset? time = null)
    {
        var at = time is { } t ? $"&time={t.ToUnixTimeMilliseconds() / 1000.0:0.###}" : "";
        var data = await ApiAsync($"query?query={Uri.EscapeDataString(promql)}{at}");
        static double Value(JsonElement pair) => double.Parse(pair[1].GetString()!, CultureInfo.InvariantCulture);
        return data.GetProperty("resultType").GetString() switch
        {
            "vector" => data.GetProperty("result").EnumerateArray().Select(s => (Labels(s), Value(s.GetProperty("value")))).ToList(),
            "scalar" => [(new Dictionary<string, string>(), Value(data.GetProperty("result")))],
            var other => throw new InvalidOperationException($"unexpected result type {other} for {promql}"),
        };

        static IReadOnlyDictionary<string, string> Labels(JsonElement sample) =>
            sample.GetProperty("metric").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!);
    }

    public async ValueTask DisposeAsync()
    {
        await LocalServer.StopAsync(_process, TimeSpan.FromSeconds(10));
        _process.Dispose();
        Http.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    private void Append(string? line)
    {
        if (line is not null)
        {
            lock (_log)
            {
                _log.AppendLine(line);
            }
        }
    }
}
