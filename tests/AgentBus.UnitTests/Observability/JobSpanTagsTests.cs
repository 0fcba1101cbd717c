using System.Diagnostics;
using AgentBus.Telemetry;
using OpenTelemetry;
using OpenTelemetry.Trace;

namespace AgentBus.UnitTests.Observability;

/// <summary>job.id passed down to the spans of a job's work, through a real tracer provider.</summary>
public sealed class JobSpanTagsTests
{
    [Fact]
    public void Spans_inside_a_job_span_and_late_spans_with_only_its_context_carry_its_job_id()
    {
        using var source = new ActivitySource(nameof(JobSpanTagsTests));
        using var provider = Sdk.CreateTracerProviderBuilder().AddSource(source.Name).AddProcessor(new JobSpanTags()).Build();

        ActivityContext ended;
        using (var job = source.StartActivity("consume prd", ActivityKind.Consumer, new ActivityContext(ActivityTraceId.CreateRandom(), ActivitySpanId.CreateRandom(), ActivityTraceFlags.Recorded))!)
        {
            job.SetTag(JobSpanTags.JobId, "job-1");
            using var command = source.StartActivity("INSERT")!;
            using var nested = source.StartActivity("nested")!;
            Assert.Equal("job-1", command.GetTagItem(JobSpanTags.JobId));
            Assert.Equal("job-1", nested.GetTagItem(JobSpanTags.JobId));
            ended = job.Context;
        }
        // As the Redis client makes its spans: after the parent ended, from its context only.
        using (var late = source.StartActivity("XADD", ActivityKind.Client, ended)!)
        {
            Assert.Equal("job-1", late.GetTagItem(JobSpanTags.JobId));
        }
        // Work of no job names none; a span that names its own job keeps it.
        using (var poll = source.StartActivity("XREADGROUP")!)
        {
            Assert.Null(poll.GetTagItem(JobSpanTags.JobId));
        }
        using (var unknown = source.StartActivity("GET", ActivityKind.Client, new ActivityContext(ActivityTraceId.CreateRandom(), ActivitySpanId.CreateRandom(), ActivityTraceFlags.Recorded))!)
        {
            Assert.Null(unknown.GetTagItem(JobSpanTags.JobId));
        }
        using var other = source.StartActivity("consume plan", ActivityKind.Consumer, ended, [new(JobSpanTags.JobId, "job-2")])!;
        Assert.Equal("job-2", other.GetTagItem(JobSpanTags.JobId));
    }
}
