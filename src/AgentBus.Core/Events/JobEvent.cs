using System.Text.Json;
using System.Text.Json.Serialization;

namespace AgentBus.Events;

/// <summary>
/// A state change of a job. <see cref="Seq"/> is gap-free per job (jobs.event_seq), so a client
/// that saw event n knows exactly what it missed; it is the SSE event id.
/// </summary>
public sealed record JobEvent(
    [property: JsonPropertyName("job_id")] Guid JobId,
    [property: JsonPropertyName("seq")] int Seq,
    [property: JsonPropertyName("type")] string Type,
    [property: JsonPropertyName("stage")] string? Stage,
    [property: JsonPropertyName("data")] JsonElement Data,
    [property: JsonPropertyName("created_at")] DateTimeOffset CreatedAt);

public static class JobEventTypes
{
    public const string JobCreated = "job_created";
    public const string JobStarted = "job_started";
    public const string StageQueued = "stage_queued";
    public const string StageStarted = "stage_started";
    public const string StageCompleted = "stage_completed";
    public const string StageRetry = "stage_retry";
    public const string StageFailed = "stage_failed";
    public const string ApprovalRequested = "approval_requested";
    public const string JobApproved = "job_approved";
    public const string ChangesRequested = "changes_requested";
    public const string JobRejected = "job_rejected";
    public const string JobCanceled = "job_canceled";
    public const string JobCompleted = "job_completed";
    public const string JobFailed = "job_failed";
    public const string JobResumed = "job_resumed";

    public static bool EndsStream(string type) => type is JobCompleted or JobFailed or JobRejected or JobCanceled;
}
