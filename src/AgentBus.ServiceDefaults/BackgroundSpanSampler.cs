using System.Diagnostics;
using OpenTelemetry.Trace;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// Drops client spans that start a trace of their own: the outbox relay's poll, the consumer's
/// XREADGROUP loop, lease renewals and readiness checks issue a Postgres or Redis command every
/// second, and each would otherwise be a one-span trace burying the jobs' traces. Every client
/// call made on behalf of a request or a task has a parent and is kept (parent-based).
/// </summary>
internal sealed class BackgroundSpanSampler : Sampler
{
    public override SamplingResult ShouldSample(in SamplingParameters samplingParameters) =>
        samplingParameters.Kind == ActivityKind.Client
            ? new SamplingResult(SamplingDecision.Drop)
            : new SamplingResult(SamplingDecision.RecordAndSample);
}
