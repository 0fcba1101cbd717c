using Dapper;
using JobPipeline = AgentBus.Jobs.Pipeline;

namespace AgentBus.IntegrationTests.Observability;

/// <summary>
/// The spans the services really exported over OTLP. A job's work is traced in segments: what its
/// POST started runs in the POST's trace; what a person's request released (request changes,
/// approve) runs in that request's trace and links to the POST. So no trace lasts as long as a
/// person takes to decide, and job.id on every span of the work still finds all of it.
/// </summary>
[Collection(ObservabilityCollection.Name)]
public sealed class TracingTests(ObservabilityFixture fixture)
{
    private const string AgentBusScope = "AgentBus";

    /// <summary>The job with changes requested and then approved: its spans, once delivery's agent and the approval arrived.</summary>
    private async Task<(string JobId, ExportedSpan[] Spans)> ChangedJobSpansAsync()
    {
        var jobId = fixture.Workload.ChangedThenCompleted.ToString();
        var spans = await AgentBusAppFixture.EventuallyAsync(() => Task.FromResult(fixture.Otlp.Spans.ToArray()),
            all => all.Any(s => s.Name == "invoke_agent delivery_agent" && s["job.id"] == jobId)
                && all.Any(s => s.Name == "job_approve" && s["job.id"] == jobId),
            TimeSpan.FromSeconds(30), $"the spans of job {jobId} arriving");
        Assert.Empty(fixture.Otlp.Errors);
        return (jobId, spans);
    }

    /// <summary>The api's server span of the POST that created the job, or of its action on the job (approve, ...).</summary>
    private static ExportedSpan Request(ExportedSpan[] spans, string jobId, string? action = null) =>
        Assert.Single(spans, s => s.Kind == ExportedSpan.KindServer && s.Service == "api" && s["http.request.method"] == "POST" && s["job.id"] == jobId
            && s["http.route"]?.TrimEnd('/') == (action is null ? "/api/projects" : $"/api/jobs/{{job_id}}/{action}"));

    /// <summary>Every span of <paramref name="trace"/> hangs, parent by parent, from <paramref name="root"/>.</summary>
    private static void AssertHangsFrom(ExportedSpan root, IReadOnlyList<ExportedSpan> trace)
    {
        var byId = trace.ToDictionary(s => s.SpanId);
        Assert.DoesNotContain(trace, s => s.SpanId == root.ParentSpanId);
        foreach (var span in trace)
        {
            var at = span;
            for (var hops = 0; at != root; hops++)
            {
                Assert.True(at.ParentSpanId is not null && byId.TryGetValue(at.ParentSpanId, out at) && hops < 200, $"{span} does not lead to {root}");
            }
        }
    }

    [Fact]
    public async Task Stages_a_person_released_run_in_the_trace_of_that_request_linked_to_the_creation()
    {
        var (jobId, spans) = await ChangedJobSpansAsync();
        var post = Request(spans, jobId);
        var projectId = post["project.id"];
        Assert.NotNull(projectId);
        var creation = (post.TraceId, post.SpanId);

        // The first PRD in the POST's trace; the second in the trace of the request for changes;
        // plan ... delivery in the approval's.
        var segments = new (ExportedSpan Request, string? Action, string[] Stages)[]
        {
            (post, null, [JobPipeline.Prd]),
            (Request(spans, jobId, "request-changes"), "job_request_changes", [JobPipeline.Prd]),
            (Request(spans, jobId, "approve"), "job_approve", [.. JobPipeline.Stages.Select(s => s.Name).Where(s => s != JobPipeline.Prd)]),
        };
        Assert.Equal(3, segments.Select(s => s.Request.TraceId).Distinct().Count());
        foreach (var (request, action, stages) in segments)
        {
            var trace = spans.Where(s => s.TraceId == request.TraceId).ToList();
            AssertHangsFrom(request, trace);
            Assert.Equal(stages.Order(), trace.Where(s => s.Name.StartsWith("consume ", StringComparison.Ordinal)).Select(s => s.Name["consume ".Length..]).Order());
            // A released segment: the action's span below its request, linked to the POST, and so is each stage's consume span.
            IReadOnlyList<(string, string)> links = action is null ? [] : [creation];
            if (action is not null)
            {
                var span = Assert.Single(trace, s => s.Name == action);
                Assert.True(span.Service == "api" && span.ParentSpanId == request.SpanId && span["job.id"] == jobId && span["project.id"] == projectId, $"{span}");
                Assert.Equal(links, span.Links);
            }

            // Each stage: enqueued, consumed by the worker from that enqueue, its agent invoked
            // with the job's ids, and the model called from the agent.
            foreach (var stage in JobPipeline.Stages.Where(s => stages.Contains(s.Name)))
            {
                var enqueued = Assert.Single(trace, s => s.Name == $"enqueue {stage.Name}");
                Assert.True(enqueued.Kind == ExportedSpan.KindProducer && enqueued["job.id"] == jobId && enqueued["project.id"] == projectId, $"{enqueued}");
                var consumed = Assert.Single(trace, s => s.Name == $"consume {stage.Name}");
                Assert.True(consumed.Kind == ExportedSpan.KindConsumer && consumed.Service == "worker" && consumed["job.id"] == jobId && consumed["project.id"] == projectId
                    && consumed.ParentSpanId == enqueued.SpanId, $"{consumed}");
                Assert.Equal(links, consumed.Links);
                var invoked = Assert.Single(trace, s => s.Name == $"invoke_agent {stage.AgentType}");
                Assert.True(invoked.Service == "worker" && invoked["job.id"] == jobId && invoked["project.id"] == projectId && invoked["gen_ai.agent.name"] == stage.AgentType
                    && invoked.ParentSpanId == consumed.SpanId, $"{invoked}");
                var chats = trace.Where(s => s.Name.StartsWith("chat ", StringComparison.Ordinal) && s.ParentSpanId == invoked.SpanId).ToList();
                Assert.Equal(stage.Name == "delivery" ? 0 : 1, chats.Count);
                var model = stage.AgentType == "support_engineer" ? ObservabilityFixture.UnpricedModel : "offline-writer-1";
                Assert.All(chats, s => Assert.True(s.Name == $"chat {model}" && s.Scope == AgentBus.Llm.LlmTelemetry.SourceName && s["gen_ai.request.model"] == model
                    && s["gen_ai.usage.input_tokens"] is not null, $"{s}"));
            }
            // Enqueues happen where the decision is made: a segment's first stages in the api
            // (the POST, the person's request), the rest in the worker's agent spans.
            var first = stages.Length == 1 ? 1 : JobPipeline.Ready(new HashSet<string> { JobPipeline.Prd }).Count();
            Assert.Equal([.. Enumerable.Repeat("api", first), .. Enumerable.Repeat("worker", stages.Length - first)],
                trace.Where(s => s.Name.StartsWith("enqueue ", StringComparison.Ordinal)).Select(s => s.Service).Order());
        }

        // Every span of Agent Bus's own that names the job is in one of these traces.
        Assert.All(spans.Where(s => s.Scope == AgentBusScope && s["job.id"] == jobId),
            s => Assert.Contains(segments, g => g.Request.TraceId == s.TraceId));

        // Postgres, from both processes, inside the approval's trace.
        var postgres = spans.Where(s => s.TraceId == segments[2].Request.TraceId && s.Scope == "Npgsql").ToList();
        Assert.Contains(postgres, s => s.Service == "api");
        Assert.Contains(postgres, s => s.Service == "worker");
        Assert.All(postgres, s => Assert.Equal(ExportedSpan.KindClient, s.Kind));
        Assert.Contains(postgres, s => s.Attributes.Values.Any(v => v.Contains("INSERT INTO artifacts", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task Each_stage_run_keeps_the_trace_it_was_released_in_for_the_reconcilers_resend()
    {
        var (jobId, spans) = await ChangedJobSpansAsync();
        await using var db = new Npgsql.NpgsqlConnection(await fixture.PostgresConnectionStringAsync());
        var stored = (await db.QueryAsync<(string Stage, string? TraceParent)>(
            "SELECT stage, traceparent FROM stage_runs WHERE job_id = @jobId", new { jobId = Guid.Parse(jobId) })).ToDictionary(r => r.Stage, r => r.TraceParent);
        var changes = Request(spans, jobId, "request-changes").TraceId;
        foreach (var stage in JobPipeline.Stages)
        {
            // The PRD's last run is the one the request for changes released.
            var enqueued = Assert.Single(spans, s => s.Name == $"enqueue {stage.Name}" && s["job.id"] == jobId && (stage.Name != JobPipeline.Prd || s.TraceId == changes));
            Assert.Equal($"00-{enqueued.TraceId}-{enqueued.SpanId}-01", stored[stage.Name]);
        }
    }

    [Fact]
    public async Task A_stage_the_reconciler_resends_runs_in_the_trace_that_released_it()
    {
        // A PRD released by some request (stage_runs.traceparent), of a job created by another
        // (jobs.traceparent), whose task Redis lost long ago: the worker's reconciler re-sends it.
        var task = await JobLibrary.QueuedPrdAsync(fixture, "Traced: lost by Redis");
        string Trace() => System.Diagnostics.ActivityTraceId.CreateRandom().ToHexString();
        string Span() => System.Diagnostics.ActivitySpanId.CreateRandom().ToHexString();
        var (released, creation) = ((Trace(), Span()), (Trace(), Span()));
        await using (var db = new Npgsql.NpgsqlConnection(await fixture.PostgresConnectionStringAsync()))
        {
            await db.ExecuteAsync(
                """
                UPDATE jobs SET traceparent = @creation WHERE job_id = @JobId;
                UPDATE stage_runs SET traceparent = @released, queued_at = now() - interval '10 minutes' WHERE job_id = @JobId AND stage = 'prd';
                """,
                new { task.JobId, creation = $"00-{creation.Item1}-{creation.Item2}-01", released = $"00-{released.Item1}-{released.Item2}-01" });
        }
        var jobId = task.JobId.ToString();
        var spans = await AgentBusAppFixture.EventuallyAsync(() => Task.FromResult(fixture.Otlp.Spans.ToArray()),
            all => all.Any(s => s.Name == "consume prd" && s["job.id"] == jobId), TimeSpan.FromSeconds(60), "the re-sent PRD consumed");
        var consumed = Assert.Single(spans, s => s.Name == "consume prd" && s["job.id"] == jobId);
        Assert.Equal(released, (consumed.TraceId, consumed.ParentSpanId!));
        Assert.Equal([creation], consumed.Links);
    }

    [Fact]
    public async Task No_trace_of_a_job_spans_a_wait_for_a_person()
    {
        var (jobId, spans) = await ChangedJobSpansAsync();
        var waits = fixture.Workload.ApprovalWaits;
        Assert.Equal(2, waits.Count);
        // (Task.Delay may end up to a timer tick early.)
        Assert.All(waits, w => Assert.True(w.To - w.From >= ObservabilityFixture.ApprovalWait - TimeSpan.FromMilliseconds(20), $"{w}"));

        var traces = spans.Where(s => s["job.id"] == jobId).Select(s => s.TraceId).Distinct()
            .Select(t => spans.Where(s => s.TraceId == t).ToList()).ToList();
        var stageTraces = traces.Where(t => t.Any(s => s.Name.StartsWith("consume ", StringComparison.Ordinal))).ToList();
        // The job from its POST to its last span; a trace that held work from both sides of a wait
        // would last at least that long less the other wait.
        var whole = traces.Max(t => t.Max(s => s.End)) - Request(spans, jobId).Start;
        foreach (var trace in traces)
        {
            var (start, end) = (trace.Min(s => s.Start), trace.Max(s => s.End));
            foreach (var (from, to) in waits)
            {
                Assert.False(start < from && end > to, $"trace {trace[0].TraceId} ({start:HH:mm:ss.fff} to {end:HH:mm:ss.fff}) spans a wait ({from:HH:mm:ss.fff} to {to:HH:mm:ss.fff})");
            }
            Assert.True(end - start < whole - ObservabilityFixture.ApprovalWait, $"trace {trace[0].TraceId} lasts {end - start} of the job's {whole}");
        }
        // By stage: the PRD before the changes, the PRD after them and the stages after the
        // approval are each in a trace of their own.
        foreach (var trace in stageTraces)
        {
            var consumed = trace.Where(s => s.Name.StartsWith("consume ", StringComparison.Ordinal)).Select(s => s.Name).ToList();
            Assert.True(consumed.Count(n => n == "consume prd") <= 1 && (consumed.Contains("consume prd") ? consumed.Count == 1 : consumed.Count > 0),
                $"trace {trace[0].TraceId} holds {string.Join(", ", consumed)}");
        }
        Assert.Equal(3, stageTraces.Count);
    }

    [Fact]
    public async Task Every_span_of_a_jobs_work_carries_its_job_id()
    {
        var (jobId, spans) = await ChangedJobSpansAsync();
        var requests = new[] { Request(spans, jobId), Request(spans, jobId, "request-changes"), Request(spans, jobId, "approve") };
        // The work: every span at or below one of Agent Bus's own (the action, enqueue, consume,
        // agent and batch spans). The requests' authentication is not the job's work.
        var work = new List<ExportedSpan>();
        foreach (var request in requests)
        {
            var trace = spans.Where(s => s.TraceId == request.TraceId).ToDictionary(s => s.SpanId);
            bool InWork(ExportedSpan s) => s.Scope == AgentBusScope || (s.ParentSpanId is { } p && trace.TryGetValue(p, out var parent) && InWork(parent));
            work.AddRange(trace.Values.Where(InWork));
        }
        Assert.All(work, s => Assert.True(s["job.id"] == jobId, $"{s} has job.id {s["job.id"] ?? "(none)"}"));
        // Not only Agent Bus's spans: Postgres from both processes, the model calls, Redis.
        Assert.Contains(work, s => s.Scope == "Npgsql" && s.Service == "api");
        Assert.Contains(work, s => s.Scope == "Npgsql" && s.Service == "worker");
        Assert.Contains(work, s => s.Scope == AgentBus.Llm.LlmTelemetry.SourceName);
        Assert.Contains(work, s => s.Scope is not (AgentBusScope or "Npgsql" or AgentBus.Llm.LlmTelemetry.SourceName));
    }

    [Fact]
    public async Task Jobs_that_end_at_approval_or_for_their_budget_keep_their_steps_in_their_own_trace()
    {
        foreach (var (jobId, action) in new[] { (fixture.Workload.Rejected, "job_reject"), (fixture.Workload.Canceled, "job_cancel") })
        {
            var spans = await AgentBusAppFixture.EventuallyAsync(() => Task.FromResult(fixture.Otlp.Spans.ToArray()),
                all => all.Any(s => s.Name == action && s["job.id"] == jobId.ToString()), TimeSpan.FromSeconds(30), $"{action} of {jobId}");
            var post = Request(spans, jobId.ToString());
            // The decision: in its own request's trace, linked to the POST.
            var decision = Assert.Single(spans, s => s.Name == action && s["job.id"] == jobId.ToString());
            var request = Assert.Single(spans, s => s.SpanId == decision.ParentSpanId);
            Assert.True(request.Kind == ExportedSpan.KindServer && request.TraceId == decision.TraceId && request.TraceId != post.TraceId, $"{request}");
            Assert.Equal([(post.TraceId, post.SpanId)], decision.Links);
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
