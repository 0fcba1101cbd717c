using System.Text.Json;
using System.Text.Json.Serialization;

namespace AgentBus.Events;

/// <summary>
/// A state change of a job. <see cref="Seq"/> increases per job (jobs.event_seq), without gaps
/// within one run of Postgres and never reused (it jumps ahead after a restart), so a client that
/// saw event n gets exactly what it missed by asking for those after n; it is the SSE event id.
/// </summary>
public sealed record JobEvent(
    [property: JsonPropertyName("job_id")] Guid JobId,
    [property: JsonPropertyName("seq")] int Seq,
    [property: JsonPropertyName("type")] string Type,
    [property: JsonPropertyName("stage")] string? Stage,
    [property: JsonPropertyName("data")] JsonElement Data,
    [property: JsonPropertyName("created_at")] DateTimeOffset CreatedAt);
