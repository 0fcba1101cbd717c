using JobPipeline = AgentBus.Jobs.Pipeline;

namespace AgentBus.IntegrationTests.Observability;

/// <summary>
/// The spans the services really exported over OTLP: one submitted project is one connected trace
/// from its POST through every enqueue, consume, agent, model and Postgres span, across api and
/// worker, even though a person approved it (and asked for changes) in requests of their own.
/// </summary>
[Collection(ObservabilityCollection.Name)]
public sealed class TracingTests(ObservabilityFixture fixture)
{
    [Fact]
    public async Task A_project_with_changes_requested_and_approval_is_one_connected_trace_across_api_and_worker()
    {
        var jobId = fixture.Workload.ChangedThenCompleted.ToString();
        // The last span of the job (delivery's agent) may still be on its way to the receiver.
        var spans = await AgentBusAppFixture.EventuallyAsync(() => Task.FromResult(fixture.Otlp.Spans.ToArray()),
            all => all.Any(s => s.Name == "invoke_agent delivery_agent" && s["job.id"] == jobId)
                && all.Any(s => s.Name == "job_approve" && s["job.id"] == jobId),
            TimeSpan.FromSeconds(30), $"the spans of job {jobId} arriving");
        Assert.Empty(fixture.Otlp.Errors);

        // The POST that submitted the project: the api's server span, tagged with its ids.
        var post = Assert.Single(spans, s => s.Kind == ExportedSpan.KindServer && s["http.request.method"] == "POST" && s["job.id"] == jobId
            && s["http.route"]?.TrimEnd('/') == "/api/projects");
        Assert.Equal("api", post.Service);
        var projectId = post["project.id"];
        Assert.NotNull(projectId);
        var trace = spans.Where(s => s.TraceId == post.TraceId).ToList();

        // Every span of the trace hangs, parent by parent, from the POST.
        var byId = trace.ToDictionary(s => s.SpanId);
        Assert.DoesNotContain(trace, s => s.SpanId == post.ParentSpanId);
        foreach (var span in trace)
        {
            var at = span;
            for (var hops = 0; at != post; hops++)
            {
                Assert.True(at.ParentSpanId is not null && byId.TryGetValue(at.ParentSpanId, out at) && hops < 200,
                    $"{span} does not lead to the POST span {post}");
            }
        }

        // Every Agent Bus span that names the job is in this trace, except the operators' requests,
        // each of which a span of this trace links to.
        var elsewhere = spans.Where(s => s["job.id"] == jobId && s.TraceId != post.TraceId).ToList();
        Assert.Equal(2, elsewhere.Count);
        Assert.All(elsewhere, s => Assert.True(s.Kind == ExportedSpan.KindServer && s.Service == "api", $"{s} is outside the job's trace"));
        Assert.Equal(["/api/jobs/{job_id}/approve", "/api/jobs/{job_id}/request-changes"], elsewhere.Select(s => s["http.route"]).Order());
        foreach (var (action, route) in new[] { ("job_request_changes", "request-changes"), ("job_approve", "approve") })
        {
            var span = Assert.Single(trace, s => s.Name == action);
            Assert.Equal("api", span.Service);
            Assert.Equal(projectId, span["project.id"]);
            var link = Assert.Single(span.Links);
            Assert.Contains(elsewhere, s => s.TraceId == link.TraceId && s.SpanId == link.SpanId && s["http.route"]!.EndsWith(route, StringComparison.Ordinal));
        }

        // Each stage: enqueued (twice for the PRD), consumed by the worker from that enqueue, its
        // agent invoked with the job's ids, and the model called from the agent.
        foreach (var stage in JobPipeline.Stages)
        {
            var runs = stage.Name == JobPipeline.Prd ? 2 : 1;
            var enqueued = trace.Where(s => s.Name == $"enqueue {stage.Name}").ToList();
            Assert.Equal(runs, enqueued.Count);
            Assert.All(enqueued, s => Assert.True(s.Kind == ExportedSpan.KindProducer && s["job.id"] == jobId && s["project.id"] == projectId, $"{s}"));

            var consumed = trace.Where(s => s.Name == $"consume {stage.Name}").ToList();
            Assert.Equal(runs, consumed.Count);
            Assert.All(consumed, s => Assert.True(s.Kind == ExportedSpan.KindConsumer && s.Service == "worker" && s["job.id"] == jobId && s["project.id"] == projectId
                && enqueued.Any(e => e.SpanId == s.ParentSpanId), $"{s}"));

            var invoked = trace.Where(s => s.Name == $"invoke_agent {stage.AgentType}").ToList();
            Assert.Equal(runs, invoked.Count);
            Assert.All(invoked, s => Assert.True(s.Service == "worker" && s["job.id"] == jobId && s["project.id"] == projectId && s["gen_ai.agent.name"] == stage.AgentType
                && consumed.Any(c => c.SpanId == s.ParentSpanId), $"{s}"));

            var chats = trace.Where(s => s.Name.StartsWith("chat ", StringComparison.Ordinal) && invoked.Any(i => i.SpanId == s.ParentSpanId)).ToList();
            Assert.Equal(stage.Name == "delivery" ? 0 : runs, chats.Count);
            var model = stage.AgentType == "support_engineer" ? ObservabilityFixture.UnpricedModel : "offline-writer-1";
            Assert.All(chats, s => Assert.True(s.Name == $"chat {model}" && s.Scope == AgentBus.Llm.LlmTelemetry.SourceName && s["gen_ai.request.model"] == model
                && s["gen_ai.usage.input_tokens"] is not null, $"{s}"));
        }
        // Enqueues happen where the decision is made: the first PRD and the changes in the api,
        // the stages after approval from the approval's span, the rest in the worker's agent spans.
        Assert.Equal(["api", "api", "api", .. Enumerable.Repeat("worker", JobPipeline.Stages.Count - 2)],
            trace.Where(s => s.Name.StartsWith("enqueue ", StringComparison.Ordinal)).Select(s => s.Service).Order());

        // Postgres, from both processes, inside the trace.
        var postgres = trace.Where(s => s.Scope == "Npgsql").ToList();
        Assert.Contains(postgres, s => s.Service == "api");
        Assert.Contains(postgres, s => s.Service == "worker");
        Assert.All(postgres, s => Assert.Equal(ExportedSpan.KindClient, s.Kind));
        Assert.Contains(postgres, s => s.Attributes.Values.Any(v => v.Contains("INSERT INTO artifacts", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task Jobs_that_end_at_approval_or_for_their_budget_keep_their_steps_in_their_own_trace()
    {
        foreach (var (jobId, action) in new[] { (fixture.Workload.Rejected, "job_reject"), (fixture.Workload.Canceled, "job_cancel") })
        {
            var spans = await AgentBusAppFixture.EventuallyAsync(() => Task.FromResult(fixture.Otlp.Spans.ToArray()),
                all => all.Any(s => s.Name == action && s["job.id"] == jobId.ToString()), TimeSpan.FromSeconds(30), $"{action} of {jobId}");
            var post = Assert.Single(spans, s => s.Kind == ExportedSpan.KindServer && s["job.id"] == jobId.ToString() && s["http.route"]?.TrimEnd('/') == "/api/projects");
            var decision = Assert.Single(spans, s => s.Name == action && s["job.id"] == jobId.ToString());
            Assert.Equal(post.TraceId, decision.TraceId);
            Assert.Single(spans, s => s.TraceId == post.TraceId && s.Name == "consume prd");
        }

        var budget = fixture.Workload.BudgetFailed.ToString();
        var all = fixture.Otlp.Spans.ToArray();
        var consume = Assert.Single(all, s => s.Name == "consume prd" && s["job.id"] == budget);
        Assert.Contains(all, s => s.TraceId == consume.TraceId && s.Kind == ExportedSpan.KindServer && s["job.id"] == budget);
        // Stopped before the model call: the agent span has no chat span below it.
        var agent = Assert.Single(all, s => s.Name == "invoke_agent prd_agent" && s["job.id"] == budget);
        Assert.DoesNotContain(all, s => s.ParentSpanId == agent.SpanId && s.Name.StartsWith("chat ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Reads_are_traced_at_the_configured_ratio_unless_their_caller_sampled_the_trace()
    {
        // An id no job has: its path names only these requests (a 404 is a read like any other).
        var unknown = Guid.NewGuid();
        var path = $"/api/jobs/{unknown}";
        const int reads = 200;
        using var api = fixture.CreateClient("api");
        for (var i = 0; i < reads; i++)
        {
            using var response = await api.GetAsync(path);
        }
        // A caller that traces its own requests gets each of them into its trace.
        var callerTraces = Enumerable.Range(0, 5).Select(_ => System.Diagnostics.ActivityTraceId.CreateRandom().ToHexString()).ToList();
        foreach (var trace in callerTraces)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, path);
            request.Headers.Add("traceparent", $"00-{trace}-{System.Diagnostics.ActivitySpanId.CreateRandom().ToHexString()}-01");
            using var response = await api.SendAsync(request);
        }

        var spans = (await AgentBusAppFixture.EventuallyAsync(
            () => Task.FromResult(new Observed(fixture.Otlp.Spans.Where(s => s.Kind == ExportedSpan.KindServer && s["url.path"] == path).ToList(), callerTraces)),
            found => found.Missing.Count == 0,
            TimeSpan.FromSeconds(15), "the reads of a sampled caller arriving")).Spans;
        // The api's default keeps 10% of the others: 20 of 200 expected, 0 or over 60 would take
        // odds below one in a billion, so either means the ratio is not applied.
        var sampled = spans.Count(s => !callerTraces.Contains(s.TraceId));
        Assert.InRange(sampled, 1, 60);
        Assert.All(spans, s => Assert.Equal("GET", s["http.request.method"]));
    }

    private sealed record Observed(List<ExportedSpan> Spans, List<string> Callers)
    {
        public List<string> Missing => Callers.Where(t => !Spans.Any(s => s.TraceId == t)).ToList();

        public override string ToString() => $"{Spans.Count} spans of the path, caller traces missing: {string.Join(", ", Missing)}; first: {Spans.FirstOrDefault()}";
    }

    [Fact]
    public void Every_service_exports_over_otlp_http_protobuf()
    {
        Assert.Empty(fixture.Otlp.Errors);
        Assert.True(fixture.Otlp.Requests.GetValueOrDefault("/v1/traces") > 0, "no trace exports");
        Assert.Equal(["api", "worker"], fixture.Otlp.Spans.Select(s => s.Service).Where(s => s is "api" or "worker").Distinct().Order());
        // The gpu-agent of this topology runs no task, so it has no trace to send: its metrics and logs go the same way.
        Assert.All(["/v1/metrics", "/v1/logs"], signal => Assert.True(fixture.Otlp.ExportsByService.GetValueOrDefault($"{signal} gpu-agent") > 0,
            $"gpu-agent sent nothing to {signal}: {string.Join(", ", fixture.Otlp.ExportsByService.Keys)}"));
    }

    [Fact]
    public void Background_polling_starts_no_traces_of_its_own()
    {
        // The relay, the consumers and the readiness checks talk to Postgres and Redis every second:
        // only client calls made inside a request or a task may be exported.
        var roots = fixture.Otlp.Spans.Where(s => s.Kind == ExportedSpan.KindClient && s.ParentSpanId is null).Take(5).ToList();
        Assert.True(roots.Count == 0, $"root client spans exported: {string.Join("; ", roots)}");
        Assert.Contains(fixture.Otlp.Spans, s => s.Kind == ExportedSpan.KindClient && s.Scope == "Npgsql" && s.ParentSpanId is not null);
    }
}
