using StackExchange.Redis;

namespace AgentBus.Queue;

/// <summary>
/// One agent run for one stage of one job, as carried by a queue entry. TraceParent is the span
/// the run continues (its enqueue span); JobTraceParent is the request that created the job, which
/// the run links to when it runs in another trace (a stage a person released).
/// </summary>
public sealed record TaskMessage(Guid TaskId, Guid JobId, Guid ProjectId, string Stage, string? TraceParent, string? JobTraceParent)
{
    public NameValueEntry[] ToEntries() =>
    [
        new("task_id", TaskId.ToString()),
        new("job_id", JobId.ToString()),
        new("project_id", ProjectId.ToString()),
        new("stage", Stage),
        new("traceparent", TraceParent ?? ""),
        new("job_traceparent", JobTraceParent ?? ""),
    ];

    public static TaskMessage? FromEntries(NameValueEntry[] values)
    {
        string? Get(string name) => values.FirstOrDefault(v => v.Name == name).Value;
        string? Trace(string name) => Get(name) is { Length: > 0 } tp ? tp : null;
        return Guid.TryParse(Get("task_id"), out var taskId) && Guid.TryParse(Get("job_id"), out var jobId)
            && Guid.TryParse(Get("project_id"), out var projectId) && Get("stage") is { Length: > 0 } stage
            ? new TaskMessage(taskId, jobId, projectId, stage, Trace("traceparent"), Trace("job_traceparent"))
            : null;
    }
}
