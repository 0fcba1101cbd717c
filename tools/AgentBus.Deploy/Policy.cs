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
    string? IngressPath = null,
    int TerminationGraceSeconds = 30);

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

public static class Policy
{
    public const string Namespace = "agent-bus";
    public const string PartOf = "agent-bus";
    /// <summary>Secret holding every secret parameter, one key per parameter name (k8s/secrets).</summary>
    public const string SecretName = "agent-bus-secrets";
    /// <summary>Secret with managed-service connection strings, one key per connection string name.</summary>
    public const string ManagedDataSecretName = "agent-bus-managed-data";
    /// <summary>uid/gid of the "app" user in Microsoft's .NET images; numeric so the kubelet can
    /// verify runAsNonRoot.</summary>
    public const long DotnetUid = 1654;
    public const string IngressHost = "agent-bus.example.com";
    /// <summary>Label set by NVIDIA GPU feature discovery (GPU operator) on nodes with a GPU.</summary>
    public const string GpuNodeLabel = "nvidia.com/gpu.present";
    public const string GpuResource = "nvidia.com/gpu";

    public static readonly ServicePolicy DefaultService = new(new("100m", "256Mi", "1", "512Mi"));

    public static ServicePolicy ForService(string name) => name switch
    {
        "api" => new(new("100m", "256Mi", "1", "512Mi"), Autoscale: (2, 10), DisruptionBudget: true, IngressPath: "/api"),
        // The worker finishes or hands back its in-flight task on SIGTERM; give it time to.
        "worker" => new(new("200m", "384Mi", "2", "1Gi"), Autoscale: (2, 10), DisruptionBudget: true,
            TerminationGraceSeconds: 60),
        "gpu-agent" => new(new("50m", "128Mi", "500m", "256Mi"), DaemonSetOnGpuNodes: true),
        _ => DefaultService,
    };

    /// <summary>By image repository (docker.io/library/postgres:18.3 gives "postgres").</summary>
    public static DataStorePolicy ForDataStore(string image)
    {
        var repository = image.Split('@')[0].Split('/')[^1].Split(':')[0];
        return repository switch
        {
            // Official image: uid 999 is "postgres"; the socket dir and /dev/shm must be writable.
            "postgres" => new(new("250m", "512Mi", "2", "2Gi"), 999, "/var/lib/postgresql", "10Gi",
                ["/var/run/postgresql"], SharedMemory: true,
                ["sh", "-c", "pg_isready -h 127.0.0.1 -p 5432 -U \"$POSTGRES_USER\""]),
            // Official image: uid 999 is "redis", working directory /data holds the RDB snapshots.
            // REDIS_PASSWORD is the env var Aspire's Redis resource starts the server with.
            "redis" => new(new("100m", "256Mi", "1", "1Gi"), 999, "/data", "2Gi", [], SharedMemory: false,
                ["sh", "-c", "REDISCLI_AUTH=\"$REDIS_PASSWORD\" redis-cli -h 127.0.0.1 ping | grep -q PONG"]),
            _ => new(new("100m", "256Mi", "1", "512Mi"), null, null, "1Gi", [], false, null),
        };
    }
}
