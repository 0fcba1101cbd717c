using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.RegularExpressions;
using AgentBus.IntegrationTests.Observability;
using StackExchange.Redis;

namespace AgentBus.IntegrationTests.Fixtures;

/// <summary>
/// The whole system observed the way an operator would: every service exports traces over
/// OTLP/HTTP to a receiver in the test process, a real Prometheus scrapes all three services with
/// the repository's rules loaded, and every line the services print is kept. Then a workload runs
/// through the API: jobs to completion (one after a request for changes, with a person's wait
/// before each decision), a rejection, a
/// cancellation, a job stopped by its budget, a poison queue entry that is dead-lettered, and a
/// Redis stall long enough for readiness to answer 503. support_engineer's model has no price.
/// Prometheus also scrapes postgres_exporter and redis_exporter, as in the cluster.
/// </summary>
public sealed partial class ObservabilityFixture : AgentBusAppFixture
{
    public const decimal OfflinePricePerMillion = 100m;
    public const string UnpricedModel = "offline-unpriced";
    // The shared readiness report's second, then a check's 3 s timeout, with room.
    public static readonly TimeSpan RedisPause = TimeSpan.FromSeconds(6);
    /// <summary>How long the PRD of the job with changes waits for a person, each time.</summary>
    public static readonly TimeSpan ApprovalWait = TimeSpan.FromSeconds(3);

    public OtlpReceiver Otlp { get; private set; } = null!;
    public PrometheusServer Prometheus { get; private set; } = null!;
    public Workload Workload { get; private set; } = null!;

    /// <summary>The exporters of the AppHost, scraped as job agent-bus-exporters.</summary>
    public static readonly string[] Exporters = ["postgres-exporter", "redis-exporter"];

    /// <summary>When the workload began and ended (the saturation test looks for busy connections in it).</summary>
    public (DateTimeOffset Start, DateTimeOffset End) WorkloadWindow { get; private set; }

    protected override bool CollectsLogsOf(string resource) => Services.Contains(resource);

    /// <summary>
    /// What the services' processes themselves printed on stdout and stderr: the lines after
    /// DCP's "[sys] Starting process" line, without DCP's own "[sys]" lines and timestamp prefix.
    /// </summary>
    public IReadOnlyList<(string Service, string Line, bool IsError)> ProcessOutput()
    {
        var output = new List<(string, string, bool)>();
        foreach (var service in Services)
        {
            var started = false;
            foreach (var (_, content, isError) in Logs.Where(l => l.Resource == service))
            {
                var line = DcpTimestamp().Replace(content, "", 1);
                if (line.StartsWith("[sys] ", StringComparison.Ordinal))
                {
                    started |= line.StartsWith("[sys] Starting process", StringComparison.Ordinal);
                    continue;
                }
                if (started)
                {
                    output.Add((service, line, isError));
                }
            }
        }
        return output;
    }

    protected override void ConfigureTelemetry(IDistributedApplicationTestingBuilder builder) => ExportTelemetryTo(builder, () => Otlp.BaseUrl);

    protected override void Configure(IDistributedApplicationTestingBuilder builder)
    {
        var price = OfflinePricePerMillion.ToString(CultureInfo.InvariantCulture);
        // The reconciler sweeps every 2 s (not 30), so the tracing test of its re-send is quick.
        builder.Project("worker")
            .WithEnvironment("AgentBus__Reconciler__Interval", "00:00:02")
            .WithEnvironment("AgentBus__Llm__Prices__offline-writer-1__Input", price)
            .WithEnvironment("AgentBus__Llm__Prices__offline-writer-1__Output", price)
            .WithEnvironment("AgentBus__Llm__Agents__support_engineer__Model", UnpricedModel);
        // A webhook subscribed to a receiver that is down (RunWorkloadAsync), so the webhook
        // series and WebhookDeliveriesFailing's operands have data.
        foreach (var service in new[] { "api", "worker" })
        {
            builder.Project(service).WithEnvironment("AgentBus__Webhooks__AllowedHosts__0", WebhookSettings.ReceiverAddress);
        }
        // The gpu-agent replays the recorded two-GPU node, so the GPU dashboard has data too. It
        // also carries a daily spend cap (far above the workload) and so exports the cap's series;
        // the worker has none, as its unpriced model could not be called under a cap.
        builder.Project("gpu-agent")
            .WithEnvironment("AgentBus__Llm__DailySpendCapUsd", "1000000")
            .WithEnvironment("AgentBus__Gpu__Source", "recorded")
            .WithEnvironment("AgentBus__Gpu__RecordedPath", GpuAppFixture.RecordedPath)
            .WithEnvironment("AgentBus__Gpu__Node", GpuAppFixture.Node);
    }

    public override async ValueTask InitializeAsync()
    {
        Otlp = await OtlpReceiver.StartAsync();
        await base.InitializeAsync();

        using var cts = new CancellationTokenSource(StartTimeout);
        var targets = Services.ToDictionary(s => s, s => App.GetEndpoint(s, "http"));
        var exporters = Exporters.ToDictionary(e => e, e => App.GetEndpoint(e, "http"));
        Prometheus = await PrometheusServer.StartAsync(targets, exporters, Path.Combine(Repository.Root, "k8s", "monitoring", "alert-rules.yml"), cts.Token);
        await EventuallyAsync(() => Prometheus.QueryAsync("sum(up{job=\"agent-bus\"})"), r => r.Count == 1 && r[0].Value == 3,
            TimeSpan.FromSeconds(30), "Prometheus scraping all three services");
        // up only says the exporter answered; pg_up and redis_up say it reached its server.
        try
        {
            await EventuallyAsync(() => Prometheus.QueryAsync("sum(pg_up) + sum(redis_up)"), r => r.Count == 1 && r[0].Value == 2,
                TimeSpan.FromSeconds(30), "Prometheus scraping both exporters, each connected to its server");
        }
        catch (TimeoutException e)
        {
            throw new TimeoutException($"{e.Message}\ntargets: {await Prometheus.ApiAsync("targets?state=active")}", e);
        }

        var start = DateTimeOffset.UtcNow;
        Workload = await RunWorkloadAsync();
        WorkloadWindow = (start, DateTimeOffset.UtcNow);

        // Every counter the workload moved must be in Prometheus, then a few more scrapes and rule
        // evaluations so that rate() and the recording rules have two samples after it.
        await EventuallyAsync(() => Prometheus.QueryAsync("sum(agent_bus_jobs_completed_total{namespace=\"agent-bus\"})"), r => r.Count == 1 && r[0].Value >= 5,
            TimeSpan.FromSeconds(30), "Prometheus seeing five finished jobs");
        await EventuallyAsync(() => Prometheus.QueryAsync("sum(agent_bus_queue_dead_lettered_total{namespace=\"agent-bus\"})"), r => r.Count == 1 && r[0].Value >= 1,
            TimeSpan.FromSeconds(30), "Prometheus seeing the dead-lettered entry");
        await EventuallyAsync(() => Prometheus.QueryAsync("sum(agent_bus_http_requests_total{namespace=\"agent-bus\", status=\"503\"})"), r => r.Count == 1 && r[0].Value >= 3,
            TimeSpan.FromSeconds(30), "Prometheus seeing the 503s of readiness");
        await EventuallyAsync(() => Prometheus.QueryAsync("redis_stream_length{stream=\"agentbus:queue:cpu:dead\"}"), r => r.Count == 1 && r[0].Value >= 1,
            TimeSpan.FromSeconds(30), "redis_exporter seeing the dead-letter stream");
        await EventuallyAsync(() => Prometheus.QueryAsync("sum(agent_bus_webhook_deliveries_total{namespace=\"agent-bus\", outcome=\"failed_retrying\"})"), r => r.Count == 1 && r[0].Value >= 1,
            TimeSpan.FromSeconds(30), "Prometheus seeing failed webhook attempts");
        await Task.Delay(TimeSpan.FromSeconds(3));
    }

    /// <summary>An ML project: routed to the gpu queue and run by the gpu-agent on a leased GPU.</summary>
    private static async Task RunGpuJobAsync(AgentBusClient api)
    {
        var (_, jobId) = await api.CreateProjectAsync("Observed: on a GPU", Gpu.GpuNodeTests.MlRequirements);
        await api.WaitForStatusAsync(jobId, "waiting_for_approval");
        (await api.ActAsync(jobId, "approve")).Dispose();
        var job = await api.WaitForStatusAsync(jobId, "completed");
        Assert.Equal("gpu", (string?)job["routing"]!["queue"]);
    }

    private async Task<Workload> RunWorkloadAsync()
    {
        using var api = Api();
        using (var down = await api.Http.PostAsJsonAsync("/api/webhooks", new
        {
            url = $"http://{WebhookSettings.ReceiverAddress}:{LocalServer.FreePort()}/down",
            events = new[] { "approval_requested", "job_completed", "job_failed", "budget_stopped" },
        }))
        {
            Assert.Equal(HttpStatusCode.Created, down.StatusCode);
        }
        var changed = RunWithChangesAsync(api);
        var rejected = StopAtApprovalAsync(api, "reject", new { reason = "Out of scope" }, "rejected");
        var canceled = StopAtApprovalAsync(api, "cancel", new { reason = "No longer needed" }, "canceled");
        var budget = BudgetFailedAsync(api);
        await Task.WhenAll(changed, rejected, canceled, budget);
        // One more job once every series exists: Prometheus sees each agent's counters and
        // histograms move between scrapes (a series' first sample is not an increase), so the
        // rate() panels have something to show for every agent.
        var completed = await api.RunJobAsync("Observed: approved at once");
        await RunGpuJobAsync(api);
        // The same for the gpu-agent's histograms: a whole GPU job can run between two scrapes,
        // so a second one runs once Prometheus holds the first one's series.
        await EventuallyAsync(() => Prometheus.QueryAsync("sum(agent_bus_gpu_task_duration_seconds_count)"), r => r.Count == 1,
            TimeSpan.FromSeconds(30), "Prometheus seeing the GPU task histogram");
        await RunGpuJobAsync(api);

        // Client mistakes: a 404 and a 400, so the status and endpoint labels have more than 2xx.
        using (var missing = await api.Http.GetAsync($"/api/jobs/{Guid.NewGuid()}"))
        {
            Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        }
        using (var invalid = await api.Http.PostAsJsonAsync("/api/projects", new { name = "" }))
        {
            Assert.Equal(HttpStatusCode.BadRequest, invalid.StatusCode);
        }

        await using var redis = await ConnectionMultiplexer.ConnectAsync(await ConnectionStringAsync("redis") + ",allowAdmin=true");
        // A poison entry (not a task) on the cpu queue: the worker must dead-letter it.
        var entry = (string)(await redis.GetDatabase().StreamAddAsync("agentbus:queue:cpu", [new NameValueEntry("garbage", "not a task")]))!;
        await EventuallyAsync(() => redis.GetDatabase().StreamRangeAsync("agentbus:queue:cpu:dead"), d => d.Any(e => e["garbage"] == "not a task"),
            TimeSpan.FromSeconds(30), "the poison entry reaching the dead-letter stream");

        // Redis stalls longer than the readiness timeout (3 s): every service answers 503. A report
        // is shared for a second (ReadinessProbe), so a probe just before the stall (the AppHost's)
        // can answer the first ask with 200: ask until a check made during the stall answers.
        var paused = DateTime.UtcNow;
        await redis.GetDatabase().ExecuteAsync("CLIENT", "PAUSE", ((long)RedisPause.TotalMilliseconds).ToString(CultureInfo.InvariantCulture), "ALL");
        var readiness = await Task.WhenAll(Services.Select(async s =>
        {
            using var client = CreateClient(s);
            while (true)
            {
                using var response = await client.GetAsync("/health/ready");
                if (response.StatusCode == HttpStatusCode.ServiceUnavailable || DateTime.UtcNow - paused > RedisPause)
                {
                    return (s, response.StatusCode);
                }
                await Task.Delay(TimeSpan.FromMilliseconds(200));
            }
        }));
        await Task.Delay(RedisPause - (DateTime.UtcNow - paused) is { Ticks: > 0 } rest ? rest : TimeSpan.Zero);

        var (changedJob, waits) = await changed;
        return new Workload(changedJob, waits, completed.JobId, await rejected, await canceled, await budget, entry,
            readiness.ToDictionary(r => r.s, r => r.StatusCode));
    }

    /// <summary>A person who takes their time: the PRD waits <see cref="ApprovalWait"/> before each decision.</summary>
    private static async Task<(Guid, IReadOnlyList<(DateTimeOffset, DateTimeOffset)>)> RunWithChangesAsync(AgentBusClient api)
    {
        var waits = new List<(DateTimeOffset, DateTimeOffset)>();
        async Task WaitForPersonAsync()
        {
            var from = DateTimeOffset.UtcNow;
            await Task.Delay(ApprovalWait);
            waits.Add((from, DateTimeOffset.UtcNow));
        }
        var (_, jobId) = await api.CreateProjectAsync("Observed: changes requested");
        await api.WaitForStatusAsync(jobId, "waiting_for_approval");
        await WaitForPersonAsync();
        using (var changes = await api.ActAsync(jobId, "request-changes", new { notes = "Add an audit log of every booking change." }))
        {
            Assert.Equal(HttpStatusCode.OK, changes.StatusCode);
        }
        await AgentBusAppFixture.EventuallyAsync(() => api.GetJobAsync(jobId),
            j => (string?)j["status"] == "waiting_for_approval" && j["stages"]!.AsArray().Any(s => (string?)s!["stage"] == "prd" && (int)s["attempts"]! == 2),
            TimeSpan.FromSeconds(60), "the regenerated PRD waiting for approval");
        await WaitForPersonAsync();
        using (var approve = await api.ActAsync(jobId, "approve"))
        {
            Assert.Equal(HttpStatusCode.OK, approve.StatusCode);
        }
        await api.WaitForStatusAsync(jobId, "completed");
        return (jobId, waits);
    }

    private static async Task<Guid> StopAtApprovalAsync(AgentBusClient api, string action, object body, string status)
    {
        var (_, jobId) = await api.CreateProjectAsync($"Observed: {action}");
        await api.WaitForStatusAsync(jobId, "waiting_for_approval");
        using (var response = await api.ActAsync(jobId, action, body))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
        await api.WaitForStatusAsync(jobId, status);
        return jobId;
    }

    private static async Task<Guid> BudgetFailedAsync(AgentBusClient api)
    {
        using var response = await api.Http.PostAsJsonAsync("/api/projects",
            new { name = "Observed: over budget", requirements = SampleRequirements.Clinic, budget_usd = 0.01m });
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var jobId = Guid.Parse((string)(await response.Content.ReadFromJsonAsync<System.Text.Json.Nodes.JsonObject>())!["job_id"]!);
        var job = await api.WaitForStatusAsync(jobId, "failed");
        Assert.Equal("budget_exceeded", (string?)job["error"]!["code"]);
        return jobId;
    }

    [GeneratedRegex(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z ")]
    private static partial Regex DcpTimestamp();

    public override async ValueTask DisposeAsync()
    {
        if (Prometheus is not null)
        {
            await Prometheus.DisposeAsync();
        }
        await base.DisposeAsync();
        if (Otlp is not null)
        {
            await Otlp.DisposeAsync();
        }
    }
}
