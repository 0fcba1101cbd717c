using StackExchange.Redis;

namespace AgentBus.Queue;

/// <summary>One agent run for one stage of one job, as carried by a queue entry.</summary>
public sealed record TaskMessage(Guid TaskId, Guid JobId, Guid ProjectId, string Stage, string? TraceParent)
{
    public NameValueEntry[] ToEntries() =>
    [
        new("task_id", TaskId.ToString()),
        new("job_id", JobId.ToString()),
        new("project_id", ProjectId.ToString()),
        new("stage", Stage),
        new("traceparent", TraceParent ?? ""),
    ];

    public static TaskMessage? FromEntries(NameValueEntry[] values)
    {
        string? Get(string name) => values.FirstOrDefault(v => v.Name == name).Value;
        return Guid.TryParse(Get("task_id"), out var taskId) && Guid.TryParse(Get("job_id"), out var jobId)
            && Guid.TryParse(Get("project_id"), out var projectId) && Get("stage") is { Length: > 0 } stage
            ? new TaskMessage(taskId, jobId, projectId, stage, Get("traceparent") is { Length: > 0 } tp ? tp : null)
            : null;
    }
}
