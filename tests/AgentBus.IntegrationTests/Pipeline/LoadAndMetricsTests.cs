using System.Diagnostics;

namespace AgentBus.IntegrationTests.Pipeline;

[Collection(AppHostCollection.Name)]
public sealed class LoadAndMetricsTests(AppHostFixture fixture)
{
    [Fact]
    public async Task Fifty_jobs_submitted_at_once_all_complete()
    {
        using var api = fixture.Api();
        var clock = Stopwatch.StartNew();
        var jobs = await Task.WhenAll(Enumerable.Range(1, 50).Select(i => api.RunJobAsync($"Concurrent {i}", TimeSpan.FromMinutes(4))));
        TestContext.Current.SendDiagnosticMessage($"50 concurrent jobs completed in {clock.Elapsed.TotalSeconds:F1} s");

        Assert.Equal(50, jobs.Select(j => j.JobId).Distinct().Count());
        foreach (var (_, jobId) in jobs)
        {
            var artifacts = await api.ArtifactsAsync(jobId);
            Assert.Equal(11, artifacts.Count);
            Assert.All(artifacts, a => Assert.Equal(1, (int)a!["version"]!));
        }
    }

    [Fact]
    public async Task Scraping_after_a_job_shows_the_counters_moved()
    {
        using var api = fixture.Api();
        using var worker = fixture.CreateClient("worker");
        var before = PrometheusText.Parse(await worker.GetStringAsync("/metrics"));
        var apiBefore = PrometheusText.Parse(await api.Http.GetStringAsync("/metrics"));

        await api.RunJobAsync("Metrics");

        var after = await AgentBusAppFixture.EventuallyAsync(async () => PrometheusText.Parse(await worker.GetStringAsync("/metrics")),
            m => m.Sum("agent_bus_jobs_completed_total", l => l["status"] == "completed") > before.Sum("agent_bus_jobs_completed_total", l => l["status"] == "completed"),
            TimeSpan.FromSeconds(15), "the worker counting the completed job");
        double Moved(string name, Func<IReadOnlyDictionary<string, string>, bool>? where = null) => after.Sum(name, where) - before.Sum(name, where);

        foreach (var agent in AgentBus.Jobs.Pipeline.AgentTypes)
        {
            Assert.True(Moved("agent_bus_agent_executions_total", l => l["agent_type"] == agent && l["status"] == "completed") >= 1, agent);
            Assert.True(Moved("agent_bus_agent_execution_duration_seconds_count", l => l["agent_type"] == agent) >= 1, agent);
        }
        Assert.True(Moved("agent_bus_agent_llm_calls_total", l => l["provider"] == "offline") >= 10);
        Assert.True(Moved("agent_bus_agent_llm_tokens_total", l => l["type"] == "input") > 1000);
        Assert.True(Moved("agent_bus_agent_llm_tokens_total", l => l["type"] == "output") > 500);
        Assert.True(Moved("agent_bus_worker_tasks_processed_total", l => l["queue_name"] == "cpu" && l["status"] == "completed") >= 11);
        Assert.True(Moved("agent_bus_job_duration_seconds_count") >= 1);
        Assert.True(Moved("agent_bus_db_query_duration_seconds_count", l => l["query_type"] == "stage_complete") >= 11);
        // The gauge is refreshed by the worker's housekeeping (every lease/3), which a fast job can beat.
        await AgentBusAppFixture.EventuallyAsync(async () => PrometheusText.Parse(await worker.GetStringAsync("/metrics")),
            m => m.Named("agent_bus_worker_queue_size").Any(s => s.Labels["queue_name"] == "cpu"), TimeSpan.FromSeconds(30), "the worker's queue-size gauge");
        Assert.Contains(after.Samples, s => s.Name == "gen_ai_client_token_usage_bucket");

        var apiAfter = PrometheusText.Parse(await api.Http.GetStringAsync("/metrics"));
        Assert.True(apiAfter.Sum("agent_bus_jobs_created_total") - apiBefore.Sum("agent_bus_jobs_created_total") >= 1);
        Assert.True(apiAfter.Sum("agent_bus_http_requests_total", l => l["endpoint"] == "/api/projects" && l["method"] == "POST" && l["status"] == "201")
            - apiBefore.Sum("agent_bus_http_requests_total", l => l["endpoint"] == "/api/projects" && l["method"] == "POST" && l["status"] == "201") >= 1);
        Assert.Contains(apiAfter.Named("agent_bus_http_requests_total"), s => s.Labels["endpoint"] == "/api/jobs/{job_id}");
        // target_info carries the OpenTelemetry service.instance.id, one series per process by design.
        Assert.DoesNotContain(apiAfter.Samples, s => s.Name != "target_info" && s.Labels.Values.Any(v => Guid.TryParse(v, out _)));
    }

    [Fact]
    public async Task Exactly_one_service_exports_the_active_jobs_gauge_with_the_count_Postgres_has()
    {
        using var api = fixture.Api();
        await api.CreateProjectAsync("Counted while it waits");
        // Every consumer could count it; one holds the reporter lease (refreshed every lease/3, 10 s).
        var (series, counted) = await AgentBusAppFixture.EventuallyAsync(async () =>
        {
            var series = new List<(string Service, double Value)>();
            foreach (var service in AgentBusAppFixture.Services)
            {
                using var client = fixture.CreateAnonymousClient(service);
                series.AddRange(PrometheusText.Parse(await client.GetStringAsync("/metrics")).Named("agent_bus_jobs_active").Select(s => (service, s.Value)));
            }
            await using var connection = new Npgsql.NpgsqlConnection(await fixture.PostgresConnectionStringAsync());
            await connection.OpenAsync();
            await using var count = new Npgsql.NpgsqlCommand("SELECT count(*) FROM jobs WHERE status IN ('queued', 'running', 'waiting_for_approval')", connection);
            return (series, Counted: (long)(await count.ExecuteScalarAsync())!);
        }, r => r.series.Count == 1 && r.series[0].Value == r.Counted && r.Counted > 0, TimeSpan.FromSeconds(40),
            "one agent_bus_jobs_active series across the services, equal to the jobs active in Postgres",
            r => $"series [{string.Join(", ", r.series.Select(s => $"{s.Service}: {s.Value}"))}], {r.Counted} in Postgres");
        TestContext.Current.SendDiagnosticMessage($"agent_bus_jobs_active {series[0].Value} from {series[0].Service} ({counted} in Postgres)");
    }
}
