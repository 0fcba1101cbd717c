namespace AgentBus.Deploy;

/// <summary>Cluster-wide names, and the policy for each resource that the Aspire model leaves out.</summary>
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
    /// <summary>The host every Ingress serves; a placeholder the overlays replace (docs/deploy.md).</summary>
    public const string IngressHost = "agent-bus.example.com";
    /// <summary>The controller the Ingresses and their annotations are written for (ingress-nginx).</summary>
    public const string IngressClass = "nginx";
    /// <summary>The setting (AgentBus.ServiceDefaults' ForwardedHeadersTrust) naming the proxies whose
    /// X-Forwarded-For a service behind the Ingress believes.</summary>
    public const string TrustedProxyNetworksSetting = "AgentBus__ForwardedHeaders__KnownNetworks__0";
    /// <summary>Path prefixes of AgentBus.ServiceDefaults that must not leave the cluster: /health,
    /// /health/ready and /metrics.</summary>
    public static readonly IReadOnlyList<string> ClusterOnlyPaths = ["/health", "/metrics"];
    /// <summary>Label set by NVIDIA GPU feature discovery (GPU operator) on nodes with a GPU.</summary>
    public const string GpuNodeLabel = "nvidia.com/gpu.present";
    public const string GpuResource = "nvidia.com/gpu";

    /// <summary>The one place that names who outside the namespace may connect in (the generated
    /// NetworkPolicies, docs/security.md): ingress-nginx's namespace (any pod of it), and
    /// kube-prometheus-stack's Prometheus and Grafana (release "prometheus") in namespace monitoring.
    /// The controller's pod addresses are the cluster's to choose: by default every private range
    /// (RFC 1918), which the api's NetworkPolicy narrows to the peers it admits; an overlay sets the
    /// cluster's pod CIDR instead (docs/security.md). Change it here and run scripts/generate-k8s.sh.</summary>
    public static readonly NetworkPeers Peers = new(
        IngressControllerNamespace: "ingress-nginx",
        IngressControllerNetworks: "10.0.0.0/8,172.16.0.0/12,192.168.0.0/16",
        IngressControllerPods: new Dictionary<string, string>(),
        MonitoringNamespace: "monitoring",
        PrometheusPods: new Dictionary<string, string> { ["app.kubernetes.io/name"] = "prometheus" },
        GrafanaPods: new Dictionary<string, string> { ["app.kubernetes.io/name"] = "grafana" });

    /// <summary>Postgres' max_connections in the base (and dev): every service's pool at the base
    /// autoscalers' maxima, plus rollout surge and headroom, fits (docs/deploy.md, "Connection
    /// budget"). The prod overlay raises it with its larger maxima; a test checks each overlay's sum.</summary>
    public const int PostgresMaxConnections = 200;

    /// <summary>How many GPU nodes (gpu-agent pods, one per node) the connection budget counts; the
    /// DaemonSet carries it as annotation <see cref="BudgetedNodesAnnotation"/>.</summary>
    public const int GpuNodesBudgeted = 10;
    public const string BudgetedNodesAnnotation = "agent-bus/budgeted-nodes";

    /// <summary>A finished Job is deleted this long after it ends, so that the next `kubectl apply`
    /// creates it again and migrates for the new images (a Job's pod template cannot be changed).</summary>
    public const int FinishedJobSeconds = 300;

    public static readonly ServicePolicy DefaultService = new(new("100m", "256Mi", "1", "512Mi"));

    public static ServicePolicy ForService(string name) => name switch
    {
        // The public API, its Scalar reference (/docs) and OpenAPI document (/openapi/v1.json).
        // Pools: requests hold a connection for a statement or a transaction, and creations and
        // stage starts are group-committed, so a few connections serve a pod's CPU.
        "api" => new(new("100m", "256Mi", "1", "512Mi"), Autoscale: (2, 10), DisruptionBudget: true,
            Ingress: new(["/api", "/docs", "/openapi"], StreamsEvents: true), PostgresPoolSize: 8),
        // The pages for people: Blazor Server keeps each tab's circuit in the replica that holds
        // its WebSocket, so a browser must come back to that replica.
        "web" => new(new("100m", "256Mi", "1", "512Mi"), Autoscale: (2, 10), DisruptionBudget: true,
            Ingress: new(["/"], StickySessions: true)),
        // The worker finishes or hands back its in-flight task on SIGTERM; give it time to.
        "worker" => new(new("200m", "384Mi", "2", "1Gi"), Autoscale: (2, 10), DisruptionBudget: true,
            TerminationGraceSeconds: 60, PostgresPoolSize: 4),
        "gpu-agent" => new(new("50m", "128Mi", "500m", "256Mi"), DaemonSetOnGpuNodes: true, PostgresPoolSize: 2),
        // Creates the database roles and applies the schema as its owner, then exits; the services
        // wait (readiness) until the schema is current. One connection, from the spare of the budget.
        "migrations" => new(new("50m", "128Mi", "500m", "256Mi"), PostgresPoolSize: 1, RunsToCompletion: true),
        _ => DefaultService,
    };

    /// <summary>By image repository (docker.io/library/postgres:18.3 gives "postgres").</summary>
    public static DataStorePolicy ForDataStore(string image) => Repository(image) switch
    {
        // Official image: uid 999 is "postgres"; the socket dir and /dev/shm must be writable.
        // The image's entrypoint passes arguments that start with "-" to postgres.
        "postgres" => new(new("250m", "512Mi", "2", "2Gi"), 999, "/var/lib/postgresql", "10Gi",
            ["/var/run/postgresql"], SharedMemory: true,
            ["sh", "-c", "pg_isready -h 127.0.0.1 -p 5432 -U \"$POSTGRES_USER\""],
            ServerArgs: ["-c", "max_connections=" + PostgresMaxConnections.ToString(System.Globalization.CultureInfo.InvariantCulture)], ReadByGrafana: true),
        // Official image: uid 999 is "redis", working directory /data holds the RDB snapshots.
        // REDIS_PASSWORD is the env var Aspire's Redis resource starts the server with.
        "redis" => new(new("100m", "256Mi", "1", "1Gi"), 999, "/data", "2Gi", [], SharedMemory: false,
            ["sh", "-c", "REDISCLI_AUTH=\"$REDIS_PASSWORD\" redis-cli -h 127.0.0.1 ping | grep -q PONG"]),
        _ => new(new("100m", "256Mi", "1", "512Mi"), null, null, "1Gi", [], false, null),
    };

    /// <summary>The exporters and the OpenTelemetry Collector the AppHost adds (its
    /// Infrastructure/AgentBusInfrastructure.Exporters.cs and .Telemetry.cs), by image repository;
    /// null for any other image. Each image runs as a fixed non-root user.</summary>
    public static ExporterPolicy? ForExporter(string image) => Repository(image) switch
    {
        // quay.io/prometheuscommunity/postgres-exporter: USER nobody. Its extra queries
        // (pg_stat_statements, dead tuples, WAL) are k8s/monitoring/postgres-exporter-queries.yaml,
        // embedded in this tool and copied beside the Deployment (kustomize reads files of its own
        // folder only); PG_EXPORTER_EXTEND_QUERY_PATH in the model points into the mount.
        "postgres-exporter" => new(new("25m", "32Mi", "200m", "128Mi"), 65534,
            new ExporterFiles("/etc/postgres-exporter", new Dictionary<string, string> { ["queries.yaml"] = EmbeddedFile("postgres-exporter-queries.yaml") })),
        // oliver006/redis_exporter: USER 59000.
        "redis_exporter" => new(new("25m", "32Mi", "200m", "128Mi"), 59000),
        // otel/opentelemetry-collector-contrib: USER 10001. Its configuration (OTLP in, Tempo and
        // Loki out) is k8s/monitoring/otel-collector-config.yaml, mounted like the exporters' files;
        // its memory_limiter refuses data before the 512Mi limit. It reads no data store.
        "opentelemetry-collector-contrib" => new(new("50m", "128Mi", "1", "512Mi"), 10001,
            new ExporterFiles("/etc/otelcol", new Dictionary<string, string> { ["config.yaml"] = EmbeddedFile("otel-collector-config.yaml") }),
            ReadsDataStore: false),
        _ => null,
    };

    /// <summary>Where, under base/&lt;exporter&gt;/, the exporter's files from the repository are copied.</summary>
    public const string ExporterFilesFolder = "files";

    private static string EmbeddedFile(string name)
    {
        using var stream = typeof(Policy).Assembly.GetManifestResourceStream($"AgentBus.Deploy.{name}")
            ?? throw new InvalidOperationException($"{name} is not embedded in AgentBus.Deploy");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    /// <summary>The image's repository: docker.io/library/postgres:18.3 gives "postgres".</summary>
    public static string Repository(string image) => image.Split('@')[0].Split('/')[^1].Split(':')[0];
}
