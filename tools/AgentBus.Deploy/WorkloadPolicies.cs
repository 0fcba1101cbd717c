namespace AgentBus.Deploy;

/// <summary>CPU and memory of one container.</summary>
public sealed record Sizing(string CpuRequest, string MemoryRequest, string CpuLimit, string MemoryLimit);

/// <summary>What the Aspire model does not say but a cluster needs: how each service runs.
/// Keyed by resource name; a project not listed gets <see cref="Policy.DefaultService"/>.</summary>
public sealed record ServicePolicy(
    Sizing Sizing,
    bool DaemonSetOnGpuNodes = false,
    (int Min, int Max)? Autoscale = null,
    bool DisruptionBudget = false,
    IngressPolicy? Ingress = null,
    int TerminationGraceSeconds = 30);

/// <summary>What a service's Ingress exposes (path prefixes; where one covers /health or /metrics, a
/// second Ingress refuses those, <see cref="Ingresses.ClusterOnly"/>) and how:
/// <paramref name="StreamsEvents"/> turns off response buffering for server-sent events,
/// <paramref name="StickySessions"/> keeps each browser on one replica by cookie.</summary>
public sealed record IngressPolicy(IReadOnlyList<string> Paths, bool StreamsEvents = false, bool StickySessions = false);

/// <summary>How a backing container (database, cache) runs: its image's non-root uid, where it keeps
/// data, which other paths it writes (the root filesystem is read-only), and how to probe it.</summary>
public sealed record DataStorePolicy(
    Sizing Sizing,
    long? Uid,
    string? DataDir,
    string Storage,
    IReadOnlyList<string> WritableDirs,
    bool SharedMemory,
    IReadOnlyList<string>? ReadinessCommand);
