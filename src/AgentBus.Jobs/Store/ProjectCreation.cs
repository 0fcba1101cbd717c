namespace AgentBus.Store;

/// <summary>
/// The Idempotency-Key a creation came with: the caller it belongs to (key:&lt;id&gt; or
/// jwt:&lt;sub&gt;; two callers' keys never meet), the key, and a hash of the request (hex), so
/// that the key used again with another request is told apart from a retry.
/// </summary>
public sealed record IdempotencyKey(string Caller, string Key, string RequestHash)
{
    /// <summary>How long a key answers for its first request; after that it may be used again.</summary>
    public static readonly TimeSpan Lifetime = TimeSpan.FromHours(24);
}

public enum CreationOutcome
{
    /// <summary>This call created the project and its job.</summary>
    Created,

    /// <summary>An earlier call with the same key and request did: its project and job.</summary>
    Replayed,

    /// <summary>The key was used (within its lifetime) with another request: nothing was created.</summary>
    KeyReused,
}

/// <summary>What a creation did; the ids are those of the project and job the key stands for (none when KeyReused).</summary>
public sealed record ProjectCreation(CreationOutcome Outcome, Guid ProjectId, Guid JobId);
