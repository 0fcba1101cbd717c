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
