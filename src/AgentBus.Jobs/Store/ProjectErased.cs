namespace AgentBus.Store;

/// <summary>What the erasure of one project removed, table by table (the audit record; no content).</summary>
public sealed record ProjectErased(
    Guid ProjectId, int Jobs, int StageRuns, int Artifacts, int Events, int LlmCalls, int Routings, int OutboxRows, int IdempotencyKeys,
    long DeadLetters, int JobsCanceled);
