using System.Reflection;
using System.Text.Json;
using System.Text.RegularExpressions;
using AgentBus.Events;

namespace AgentBus.IntegrationTests.Observability;

/// <summary>
/// Every line the three services printed during the observed run (stdout and stderr, from the
/// first line on), read back through Aspire's resource logs: one JSON object per line with the
/// contract's fields, job events named and tied to their job, project and trace.
/// </summary>
[Collection(ObservabilityCollection.Name)]
public sealed partial class LogTests(ObservabilityFixture fixture)
{
    private static readonly string[] JobEventNames = typeof(JobEventTypes).GetFields(BindingFlags.Public | BindingFlags.Static)
        .Where(f => f.IsLiteral && f.FieldType == typeof(string)).Select(f => (string)f.GetRawConstantValue()!).ToArray();

    private static readonly string[] Levels = ["trace", "debug", "info", "warning", "error", "critical"];

    [Fact]
    public async Task Every_line_printed_is_one_json_object_with_timestamp_level_message_and_category()
    {
        var lines = await LinesAsync();
        var failures = new List<string>();
        foreach (var (service, content, _) in lines)
        {
            try
            {
                using var json = JsonDocument.Parse(content);
                var root = json.RootElement;
                var missing = new[] { "timestamp", "level", "message", "category" }
                    .Where(f => !root.TryGetProperty(f, out var v) || v.ValueKind != JsonValueKind.String || v.GetString()!.Length == 0 && f != "message").ToList();
                if (missing.Count > 0)
                {
                    failures.Add($"{service}: missing {string.Join(", ", missing)}: {content}");
                }
                else if (!DateTimeOffset.TryParse(root.GetProperty("timestamp").GetString(), out _) || !Levels.Contains(root.GetProperty("level").GetString()))
                {
                    failures.Add($"{service}: bad timestamp or level: {content}");
                }
            }
            catch (JsonException e)
            {
                failures.Add($"{service}: not JSON ({e.Message}): {content}");
            }
        }
        Assert.True(failures.Count == 0, $"{failures.Count} of {lines.Count} lines break the log format:\n{string.Join("\n", failures.Take(30))}");
        foreach (var service in AgentBusAppFixture.Services)
        {
            // Captured from the process's first lines on: the host's start-up lines are there.
            Assert.Contains(lines, l => l.Service == service && l.Line.Contains("\"category\":\"Microsoft.Hosting.Lifetime\"", StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task Every_job_event_line_names_its_job_project_and_the_trace_of_the_request_that_caused_it()
    {
        var events = (await LinesAsync()).Select(l => (l.Service, Json: TryParse(l.Line))).Where(l => l.Json is { } j && j.TryGetProperty("event", out var e)
            && JobEventNames.Contains(e.GetString())).Select(l => (l.Service, Json: l.Json!.Value)).ToList();

        foreach (var (service, json) in events)
        {
            var what = $"{service}: {json}";
            Assert.True(json.TryGetProperty("job_id", out var job) && Guid.TryParse(job.GetString(), out _), $"no job_id: {what}");
            Assert.True(json.TryGetProperty("project_id", out var project) && Guid.TryParse(project.GetString(), out _), $"no project_id: {what}");
            Assert.True(json.TryGetProperty("trace_id", out var trace) && TraceId().IsMatch(trace.GetString()!), $"no trace_id: {what}");
            Assert.True(json.TryGetProperty("span_id", out var span) && SpanId().IsMatch(span.GetString()!), $"no span_id: {what}");
        }

        var w = fixture.Workload;
        foreach (var (jobId, expected) in new[]
        {
            (w.ChangedThenCompleted, new[] { "job_created", "stage_queued", "job_started", "stage_started", "stage_completed", "approval_requested", "changes_requested", "job_approved", "job_completed" }),
            (w.Completed, ["job_created", "approval_requested", "job_approved", "job_completed"]),
            (w.Rejected, ["job_created", "approval_requested", "job_rejected"]),
            (w.Canceled, ["job_created", "approval_requested", "job_canceled"]),
            (w.BudgetFailed, ["job_created", "stage_started", "stage_failed", "job_failed"]),
        })
        {
            var lines = events.Where(e => e.Json.GetProperty("job_id").GetString() == jobId.ToString()).ToList();
            Assert.Superset(expected.ToHashSet(), lines.Select(l => l.Json.GetProperty("event").GetString()!).ToHashSet());
            // A job's steps, in the api and in the worker, are logged in the trace of the request
            // that caused them: the POST that created it, or the person's action (and the stages
            // it released) on /api/jobs/{job_id}/...; never in a trace across a wait for a person.
            var requests = fixture.Otlp.Spans.Where(s => s.Kind == ExportedSpan.KindServer && s.Service == "api" && s["http.request.method"] == "POST"
                && s["job.id"] == jobId.ToString()).ToDictionary(s => s["http.route"]!.TrimEnd('/').Split('/')[^1], s => s.TraceId);
            string TraceOf(string type) => Assert.Single(lines, l => l.Json.GetProperty("event").GetString() == type).Json.GetProperty("trace_id").GetString()!;
            Assert.All(lines, l => Assert.Contains(l.Json.GetProperty("trace_id").GetString(), requests.Values));
            Assert.Equal(requests["projects"], TraceOf("job_created"));
            foreach (var (type, action) in new[] { ("changes_requested", "request-changes"), ("job_approved", "approve"), ("job_rejected", "reject"), ("job_canceled", "cancel") })
            {
                if (expected.Contains(type))
                {
                    Assert.Equal(requests[action], TraceOf(type));
                }
            }
            if (expected.Contains("job_approved"))
            {
                Assert.Equal(requests["approve"], TraceOf("job_completed"));
            }
            Assert.Contains(lines, l => l.Service == "api");
            Assert.Contains(lines, l => l.Service == "worker");
        }
    }

    [Fact]
    public async Task Lines_logged_while_a_task_runs_carry_the_task_job_and_span()
    {
        // The reconciler's line names a task it re-sent, not one it runs: its sweep is background
        // polling, which starts no trace (TracingTests.Background_polling_starts_no_traces_of_its_own).
        var lines = (await LinesAsync()).Select(l => TryParse(l.Line)).OfType<JsonElement>()
            .Where(j => j.TryGetProperty("task_id", out _) && !(j.TryGetProperty("event", out var e) && e.GetString() == "stage_reconciled")).ToList();
        Assert.NotEmpty(lines);
        Assert.All(lines, j => Assert.True(j.TryGetProperty("job_id", out _) && j.TryGetProperty("trace_id", out _) && j.TryGetProperty("span_id", out _), $"{j}"));
        // The budget stop is one of them, at warning level.
        Assert.Contains(lines, j => j.GetProperty("event").GetString() == "stage_budget_stop" && j.GetProperty("level").GetString() == "warning"
            && j.GetProperty("job_id").GetString() == fixture.Workload.BudgetFailed.ToString());
    }

    /// <summary>The lines the processes printed so far, once the workload's last ones have arrived.</summary>
    private async Task<IReadOnlyList<(string Service, string Line, bool IsError)>> LinesAsync() =>
        await AgentBusAppFixture.EventuallyAsync(() => Task.FromResult(fixture.ProcessOutput()),
            lines => lines.Count(l => l.Line.Contains("\"event\":\"job_completed\"", StringComparison.Ordinal)) >= 2
                && lines.Any(l => l.Line.Contains("\"event\":\"task_malformed\"", StringComparison.Ordinal)),
            TimeSpan.FromSeconds(20), "the workload's last log lines");

    private static JsonElement? TryParse(string line)
    {
        try
        {
            using var json = JsonDocument.Parse(line);
            return json.RootElement.Clone();
        }
        catch (JsonException)
        {
            return null;
        }
    }

    [GeneratedRegex("^[0-9a-f]{32}$")]
    private static partial Regex TraceId();

    [GeneratedRegex("^[0-9a-f]{16}$")]
    private static partial Regex SpanId();
}
