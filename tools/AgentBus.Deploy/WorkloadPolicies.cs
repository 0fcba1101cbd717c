namespace AgentBus.Deploy;

/// <summary>CPU and memory of one container.</summary>
public sealed record Sizing(string CpuRequest, string MemoryRequest, string CpuLimit, string MemoryLimit);

/// <summary>What the Aspire model does not say but a cluster needs: how each service runs.
/// Keyed by resource name; a project not listed gets <see cref="Policy.DefaultService"/>.</summary>
/// <param name="PostgresPoolSize">Npgsql's <c>Maximum Pool Size</c> for each pod of the service, appended to
/// its Postgres connection string. Required of every service that connects to Postgres: every pool at
/// the autoscaler's maximum must fit the server's max_connections (<see cref="Policy.PostgresMaxConnections"/>).</param>
/// <param name="RunsToCompletion">A one-shot resource (the migrations): a Job that runs until it exits 0,
/// with no Service, probes or NetworkPolicy (it accepts no connections; the default deny covers it).</param>
public sealed record ServicePolicy(
    Sizing Sizing,
    bool DaemonSetOnGpuNodes = false,
    (int Min, int Max)? Autoscale = null,
    bool DisruptionBudget = false,
    IngressPolicy? Ingress = null,
    int TerminationGraceSeconds = 30,
    int? PostgresPoolSize = null,
    bool RunsToCompletion = false);

/// <summary>What a service's Ingress exposes (path prefixes; where one covers /health or /metrics, a
/// second Ingress refuses those, <see cref="Ingresses.ClusterOnly"/>) and how:
/// <paramref name="StreamsEvents"/> turns off response buffering for server-sent events,
/// <paramref name="StickySessions"/> keeps each browser on one replica by cookie.</summary>
public sealed record IngressPolicy(IReadOnlyList<string> Paths, bool StreamsEvents = false, bool StickySessions = false);

/// <summary>How a backing container (database, cache) runs: its image's non-root uid, where it keeps
/// data, which other paths it writes (the root filesystem is read-only), how to probe it, the server
/// arguments the cluster adds (<paramref name="ServerArgs"/>, after the model's own), and whether
/// Grafana reads it directly (<paramref name="ReadByGrafana"/>: admitted by its NetworkPolicy).</summary>
public sealed record DataStorePolicy(
    Sizing Sizing,
    long? Uid,
    string? DataDir,
    string Storage,
    IReadOnlyList<string> WritableDirs,
    bool SharedMemory,
    IReadOnlyList<string>? ReadinessCommand,
    IReadOnlyList<string>? ServerArgs = null,
    bool ReadByGrafana = false);

/// <summary>Who outside namespace agent-bus may open connections into it, for the generated
/// NetworkPolicies (docs/security.md): the ingress controller's namespace (and, when not empty, the
/// labels of its pods), and the namespace and pod labels of Prometheus (it scrapes /metrics of every
/// service) and of Grafana (its Postgres data source). The services behind the Ingress believe
/// X-Forwarded-For only from <paramref name="IngressControllerNetworks"/> (CIDRs, comma-separated).</summary>
public sealed record NetworkPeers(
    string IngressControllerNamespace,
    string IngressControllerNetworks,
    IReadOnlyDictionary<string, string> IngressControllerPods,
    string MonitoringNamespace,
    IReadOnlyDictionary<string, string> PrometheusPods,
    IReadOnlyDictionary<string, string> GrafanaPods);

/// <summary>How a stateless telemetry container runs (a Prometheus exporter, the OpenTelemetry
/// Collector): its image's non-root uid, its size, the files of the repository it reads
/// (<paramref name="Files"/>: mounted read-only from a ConfigMap), and whether it reads an in-cluster
/// data store (then the managed-data component removes it with the store).</summary>
public sealed record ExporterPolicy(Sizing Sizing, long Uid, ExporterFiles? Files = null, bool ReadsDataStore = true);

/// <summary>Files by name (their content, read from the repository) and the directory they are mounted at.</summary>
public sealed record ExporterFiles(string MountPath, IReadOnlyDictionary<string, string> Contents);
