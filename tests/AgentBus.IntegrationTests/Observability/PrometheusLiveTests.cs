using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using Npgsql;

namespace AgentBus.IntegrationTests.Observability;

/// <summary>
/// Every query of tests/monitoring/queries.txt (the spec's troubleshooting queries as corrected,
/// every dashboard panel, every recording and alerting rule) against a live Prometheus that
/// scraped the three services through a real workload, with k8s/monitoring/alert-rules.yml loaded.
/// </summary>
[Collection(ObservabilityCollection.Name)]
public sealed partial class PrometheusLiveTests(ObservabilityFixture fixture)
{
    /// <summary>
    /// Queries that cannot return data on this machine, and why. Each names the metric prefix that
    /// makes a query skipped; when such a metric shows up, the test fails so the skip is removed.
    /// </summary>
    public static readonly IReadOnlyList<(string MetricPrefix, string Why)> Skipped =
    [
        ("container_", "cAdvisor's container metrics exist only on Kubernetes nodes"),
    ];

    [Fact]
    public async Task Every_query_in_queries_txt_returns_data_from_the_live_services()
    {
        var queries = QueryCatalog.Load();
        var now = DateTimeOffset.UtcNow;
        var failures = new List<string>();
        int checkedQueries = 0, skipped = 0, operandsChecked = 0;
        foreach (var query in queries)
        {
            if (Skipped.FirstOrDefault(s => query.Expr.Contains(s.MetricPrefix, StringComparison.Ordinal)) is { MetricPrefix: not null } skip)
            {
                skipped++;
                Assert.Empty(await fixture.Prometheus.QueryAsync(query.Expr, now));
                continue;
            }
            checkedQueries++;
            if (!query.IsAlert)
            {
                if (await ProblemAsync(query.Expr, now) is { } problem)
                {
                    failures.Add($"{query}: {problem}");
                }
                continue;
            }
            // An alert's expression is empty while it does not fire. It must evaluate, and every
            // operand of its comparisons and set operators must have data: the series it compares
            // exist with the labels it expects. absent(x) is checked as x; an operand that looks
            // back by an offset is evaluated that much later, so its window covers the workload.
            await fixture.Prometheus.QueryAsync(query.Expr, now);
            foreach (var operand in QueryCatalog.Operands(query.Expr).Where(o => !QueryCatalog.IsNumber(o)).Select(QueryCatalog.Unwrap))
            {
                operandsChecked++;
                if (await ProblemAsync(operand, now) is { } problem
                    && (QueryCatalog.LongestOffset(operand) is var offset && offset == TimeSpan.Zero || await ProblemAsync(operand, now + offset) is not null))
                {
                    failures.Add($"{query}: operand `{operand}`: {problem}");
                }
            }
        }

        TestContext.Current.TestOutputHelper?.WriteLine($"PromQL: {checkedQueries} of {queries.Count} queries of queries.txt checked live ({operandsChecked} alert operands), {skipped} skipped");
        Assert.True(failures.Count == 0, $"{failures.Count} of {checkedQueries} queries returned no data:\n{string.Join("\n", failures)}");
        Assert.Equal(SourceLine().Matches(await File.ReadAllTextAsync(QueryCatalog.File)).Count, checkedQueries + skipped);
        Assert.InRange(skipped, 1, 25);
    }

    [Fact]
    public async Task Skipped_queries_stay_skipped_only_while_their_metrics_are_absent()
    {
        foreach (var (prefix, why) in Skipped)
        {
            var present = await fixture.Prometheus.QueryAsync($"count({{__name__=~\"{Regex.Escape(prefix)}.+\"}})");
            Assert.True(present.Count == 0, $"metrics {prefix}* are exported now: remove the skip \"{why}\" in {nameof(PrometheusLiveTests)}.{nameof(Skipped)}");
            Assert.Contains(QueryCatalog.Load(), q => q.Expr.Contains(prefix, StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task Every_rule_of_alert_rules_yml_is_loaded_and_evaluates_without_error()
    {
        var ruleFile = Path.Combine(Repository.Root, "k8s", "monitoring", "alert-rules.yml");
        var text = await File.ReadAllTextAsync(ruleFile);
        var groupsInFile = GroupLine().Matches(text).Select(m => m.Groups[1].Value).ToList();
        var rulesInFile = RuleLine().Matches(text).Count;

        var data = await fixture.Prometheus.ApiAsync("rules");
        var groups = data.GetProperty("groups").EnumerateArray().ToList();
        Assert.Equal(groupsInFile.Order(), groups.Select(g => g.GetProperty("name").GetString()!).Order());
        Assert.Equal(rulesInFile, groups.Sum(g => g.GetProperty("rules").GetArrayLength()));
        foreach (var group in groups)
        {
            var name = group.GetProperty("name").GetString();
            Assert.True(group.GetProperty("lastEvaluation").GetDateTimeOffset() > DateTimeOffset.UnixEpoch, $"group {name} never evaluated");
            foreach (var rule in group.GetProperty("rules").EnumerateArray())
            {
                var what = $"{name} / {rule.GetProperty("type").GetString()} {rule.GetProperty("name").GetString()}";
                Assert.True(rule.GetProperty("health").GetString() == "ok",
                    $"{what}: health {rule.GetProperty("health").GetString()}, error {(rule.TryGetProperty("lastError", out var e) ? e.GetString() : "")}");
                Assert.True(rule.GetProperty("lastEvaluation").GetDateTimeOffset() > DateTimeOffset.UnixEpoch, $"{what} never evaluated");
            }
        }
    }

    [Fact]
    public async Task Alerts_the_workload_causes_are_active_with_their_labels()
    {
        // A dead letter always alerts (no `for`): the poison entry on the cpu queue must fire it.
        // Waited for: redis-exporter (scraped every 2 s) may show the stream grown a scrape before the
        // worker's counter is seen, and the stream alert then fires until the counter arrives.
        var alerts = await AgentBusAppFixture.EventuallyAsync(
            async () => (await fixture.Prometheus.ApiAsync("alerts")).GetProperty("alerts").EnumerateArray().ToList(),
            active => active.Any(a => Label(a, "alertname") == "DeadLetterGrowth") && !active.Any(a => Label(a, "alertname") == "DeadLetterStreamGrowing"),
            TimeSpan.FromSeconds(20), "DeadLetterGrowth active and DeadLetterStreamGrowing not",
            active => string.Join(", ", active.Select(a => Label(a, "alertname"))));
        var deadLetter = Assert.Single(alerts, a => Label(a, "alertname") == "DeadLetterGrowth");
        Assert.Equal("firing", deadLetter.GetProperty("state").GetString());
        Assert.Equal("cpu", Label(deadLetter, "queue_name"));
        Assert.Equal("worker", Label(deadLetter, "component"));
        Assert.Equal(PrometheusServer.Namespace, Label(deadLetter, "namespace"));
        Assert.Equal("warning", Label(deadLetter, "severity"));
        Assert.DoesNotContain(alerts, a => Label(a, "alertname") is "TargetDown" or "TargetMissing");

        // Redis's side saw the same dead letter (its stream grew), but the worker counted it, so
        // DeadLetterStreamGrowing leaves it to DeadLetterGrowth: one alert for one event.
        var grown = await fixture.Prometheus.QueryAsync(
            $"delta(redis_stream_length{{namespace=\"{PrometheusServer.Namespace}\", stream=\"agentbus:queue:cpu:dead\"}}[15m]) > 0 " +
            $"or redis_stream_length{{namespace=\"{PrometheusServer.Namespace}\", stream=\"agentbus:queue:cpu:dead\"}} > 0");
        Assert.NotEmpty(grown);
        Assert.DoesNotContain(alerts, a => Label(a, "alertname") == "DeadLetterStreamGrowing");
        // A healthy stack is far from its limits.
        Assert.DoesNotContain(alerts, a => Label(a, "alertname") is "PostgresConnectionsNearLimit" or "RedisMemoryNearLimit");

        static string? Label(JsonElement alert, string name) =>
            alert.GetProperty("labels").TryGetProperty(name, out var v) ? v.GetString() : null;
    }

    [Fact]
    public async Task All_three_services_are_scraped_with_the_labels_of_the_kubernetes_relabeling()
    {
        var targets = (await fixture.Prometheus.ApiAsync("targets?state=active")).GetProperty("activeTargets").EnumerateArray()
            .Where(t => t.GetProperty("labels").GetProperty("job").GetString() == PrometheusServer.Job).ToList();
        Assert.Equal(AgentBusAppFixture.Services.Order(), targets.Select(t => t.GetProperty("labels").GetProperty("component").GetString()).Order());
        foreach (var target in targets)
        {
            var labels = target.GetProperty("labels");
            var component = labels.GetProperty("component").GetString();
            Assert.Equal("up", target.GetProperty("health").GetString());
            Assert.Equal(PrometheusServer.Job, labels.GetProperty("job").GetString());
            Assert.Equal(PrometheusServer.Namespace, labels.GetProperty("namespace").GetString());
            Assert.Equal($"{component}-local", labels.GetProperty("pod").GetString());
        }

        // The Redis stall turned readiness into 503 everywhere, and Prometheus counted it.
        Assert.All(fixture.Workload.ReadinessDuringRedisPause, r => Assert.Equal(HttpStatusCode.ServiceUnavailable, r.Value));
        var unready = await fixture.Prometheus.QueryAsync(
            "sum by (component) (agent_bus_http_requests_total{namespace=\"agent-bus\", endpoint=\"/health/ready\", status=\"503\"})");
        Assert.Equal(AgentBusAppFixture.Services.Order(), unready.Select(s => s.Labels["component"]).Order());
    }

    [Fact]
    public async Task Both_exporters_are_scraped_and_see_their_servers_the_queue_streams_and_the_slow_statements()
    {
        var targets = (await fixture.Prometheus.ApiAsync("targets?state=active")).GetProperty("activeTargets").EnumerateArray()
            .Where(t => t.GetProperty("labels").GetProperty("job").GetString() == PrometheusServer.ExporterJob).ToList();
        Assert.Equal(ObservabilityFixture.Exporters.Order(), targets.Select(t => t.GetProperty("labels").GetProperty("component").GetString()).Order());
        Assert.All(targets, t => Assert.Equal("up", t.GetProperty("health").GetString()));
        Assert.Equal(1, Assert.Single(await fixture.Prometheus.QueryAsync("pg_up")).Value);
        Assert.Equal(1, Assert.Single(await fixture.Prometheus.QueryAsync("redis_up")).Value);

        // The consumer group of both task queues with its pending entries (TaskQueue's key names).
        var pending = await fixture.Prometheus.QueryAsync("redis_stream_group_messages_pending{group=\"agentbus-workers\"}");
        Assert.Contains(pending, p => p.Labels["stream"] == "agentbus:queue:cpu");
        Assert.Contains(pending, p => p.Labels["stream"] == "agentbus:queue:gpu");
        // maxmemory as the AppHost set it (512mb), what RedisMemoryNearLimit divides by.
        Assert.Equal(512.0 * 1024 * 1024, Assert.Single(await fixture.Prometheus.QueryAsync("redis_memory_max_bytes")).Value);

        // pg_stat_statements through the monitoring role: the services' own statements, timed.
        // Until a scrape after the workload's statements has them (the first test of a fixture can run before it).
        await AgentBusAppFixture.EventuallyAsync(() => fixture.Prometheus.QueryAsync("pg_stat_statements_calls{datname=\"agentbus\"}"),
            statements => statements.Any(s => s.Labels["query"].Contains("outbox", StringComparison.Ordinal) && s.Value > 0),
            TimeSpan.FromSeconds(60), "an outbox statement in pg_stat_statements, through the exporter");
        Assert.NotEmpty(await fixture.Prometheus.QueryAsync("pg_stat_statements_mean_exec_time_seconds > 0"));

        // Utility statements keep their literals in pg_stat_statements (ALTER ROLE ... PASSWORD, as
        // the migrations run it): the server tracks none, so no password reaches the monitoring
        // role or, through the exporter's labels, Prometheus.
        var password = new NpgsqlConnectionStringBuilder(await fixture.ConnectionStringAsync(AgentBusAppFixture.MonitorConnectionString)).Password!;
        await using var admin = new NpgsqlConnection(await fixture.PostgresConnectionStringAsync());
        await admin.OpenAsync();
        await using (var format = new NpgsqlCommand("SELECT format('ALTER ROLE agentbus_monitor PASSWORD %L', $1::text)", admin))
        {
            format.Parameters.AddWithValue(password);
            await using var alter = new NpgsqlCommand((string)(await format.ExecuteScalarAsync())!, admin);
            await alter.ExecuteNonQueryAsync(); // the same password: the exporter keeps its login
        }
        await using var tracked = new NpgsqlCommand("SELECT count(*) FROM pg_stat_statements WHERE strpos(query, $1) > 0", admin);
        tracked.Parameters.AddWithValue(password);
        Assert.Equal(0L, (long)(await tracked.ExecuteScalarAsync())!);
        Assert.DoesNotContain(await fixture.Prometheus.QueryAsync("pg_stat_statements_calls"), s => s.Labels["query"].Contains(password, StringComparison.Ordinal));
    }

    [Fact]
    public async Task The_spec_saturation_query_divides_the_services_connections_by_the_servers_max_connections()
    {
        double max;
        await using (var connection = new NpgsqlConnection(await fixture.PostgresConnectionStringAsync()))
        {
            await connection.OpenAsync();
            await using var show = new NpgsqlCommand("SHOW max_connections", connection);
            max = double.Parse((string)(await show.ExecuteScalarAsync())!, System.Globalization.CultureInfo.InvariantCulture);
        }
        Assert.Equal(max, Assert.Single(await fixture.Prometheus.QueryAsync("max_connections{namespace=\"agent-bus\"}")).Value);

        // During the workload the services held connections at some scrapes: at each of those
        // instants the corrected spec query is exactly their count over the server's limit.
        var (start, end) = fixture.WorkloadWindow;
        var active = Assert.Single(await fixture.Prometheus.QueryRangeAsync(
            "sum by (namespace) (agent_bus_db_connections_active{namespace=\"agent-bus\"})", start, end)).Samples;
        var busy = active.Where(s => s.Value > 0).ToList();
        Assert.NotEmpty(busy);
        var ratio = Assert.Single(await fixture.Prometheus.QueryRangeAsync(Saturation, start, end)).Samples.ToDictionary(s => s.Time, s => s.Value);
        foreach (var (time, connections) in busy)
        {
            Assert.True(ratio.TryGetValue(time, out var value), $"no saturation value at {time:O}");
            Assert.InRange(value, double.Epsilon, 1 - double.Epsilon);
            Assert.Equal(connections / max, value, 12);
        }
    }

    /// <summary>The spec's `agent_bus_db_connections_active / max_connections` as docs/spec-corrections.md writes it.</summary>
    public const string Saturation = "sum by (namespace) (agent_bus_db_connections_active{namespace=\"agent-bus\"}) / on (namespace) max_connections";

    /// <summary>Null when the query returns at least one sample with a number (not NaN), else what it returned.</summary>
    private async Task<string?> ProblemAsync(string promql, DateTimeOffset at)
    {
        var result = await fixture.Prometheus.QueryAsync(promql, at);
        return result.Count == 0 ? "no series"
            : result.All(s => double.IsNaN(s.Value)) ? $"{result.Count} series, all NaN"
            : null;
    }

    [GeneratedRegex(@"^# source:", RegexOptions.Multiline)]
    private static partial Regex SourceLine();

    [GeneratedRegex(@"^  - name:\s*(\S+)\s*$", RegexOptions.Multiline)]
    private static partial Regex GroupLine();

    [GeneratedRegex(@"^\s+- (?:alert|record):\s*\S+\s*$", RegexOptions.Multiline)]
    private static partial Regex RuleLine();
}
