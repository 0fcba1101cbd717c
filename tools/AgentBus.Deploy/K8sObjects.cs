using k8s.Models;

namespace AgentBus.Deploy;

/// <summary>Pieces every workload shares: labels and metadata, the hardened pod and container,
/// probes, ports and the ClusterIP Service.</summary>
internal static class K8sObjects
{
    public static Dictionary<string, string> Selector(string name) => new()
    {
        ["app.kubernetes.io/name"] = name,
        ["app.kubernetes.io/part-of"] = Policy.PartOf,
    };

    /// <summary>app.kubernetes.io/* for tools, plain `component` for the spec's Prometheus relabeling
    /// and LogQL ({namespace="agent-bus", component="api"}).</summary>
    public static Dictionary<string, string> Labels(string name) => new()
    {
        ["app.kubernetes.io/name"] = name,
        ["app.kubernetes.io/component"] = name,
        ["app.kubernetes.io/part-of"] = Policy.PartOf,
        ["component"] = name,
    };

    public static V1LabelSelector LabelSelector(string name) => new() { MatchLabels = Selector(name) };

    public static V1ObjectMeta Meta(string name, IDictionary<string, string>? annotations = null) =>
        new() { Name = name, Labels = Labels(name), Annotations = annotations };

    public static V1PodTemplateSpec Template(string name, V1PodSpec pod) =>
        new() { Metadata = new V1ObjectMeta { Labels = Labels(name) }, Spec = pod };

    public static V1PodSpec PodSpec(long? uid, V1Container container, int terminationGraceSeconds) => new()
    {
        Containers = [container],
        // The services never call the Kubernetes API; no token in the pod.
        AutomountServiceAccountToken = false,
        // No docker-link variables (REDIS_PORT=tcp://...) leaking into .NET configuration.
        EnableServiceLinks = false,
        TerminationGracePeriodSeconds = terminationGraceSeconds,
        SecurityContext = new V1PodSecurityContext
        {
            RunAsNonRoot = true,
            RunAsUser = uid,
            RunAsGroup = uid,
            FsGroup = uid,
            // Re-own a volume only when its root does not match: a full chown of a large
            // Postgres volume on every start would delay it.
            FsGroupChangePolicy = uid is null ? null : "OnRootMismatch",
            SeccompProfile = new V1SeccompProfile { Type = "RuntimeDefault" },
        },
    };

    public static V1SecurityContext ContainerSecurity() => new()
    {
        RunAsNonRoot = true,
        AllowPrivilegeEscalation = false,
        ReadOnlyRootFilesystem = true,
        Capabilities = new V1Capabilities { Drop = ["ALL"] },
    };

    /// <summary>The root filesystem is read-only; /tmp is the one scratch space every container gets.</summary>
    public static V1Volume TmpVolume() =>
        new() { Name = "tmp", EmptyDir = new V1EmptyDirVolumeSource { SizeLimit = new ResourceQuantity("256Mi") } };

    public static V1VolumeMount TmpMount() => new() { Name = "tmp", MountPath = "/tmp" };

    public static V1ResourceRequirements ComputeResources(Sizing s) => new()
    {
        Requests = new Dictionary<string, ResourceQuantity> { ["cpu"] = new(s.CpuRequest), ["memory"] = new(s.MemoryRequest) },
        Limits = new Dictionary<string, ResourceQuantity> { ["cpu"] = new(s.CpuLimit), ["memory"] = new(s.MemoryLimit) },
    };

    public static V1Probe HttpProbe(string path, int period, int failures) => new()
    {
        HttpGet = new V1HTTPGetAction { Path = path, Port = "http" },
        PeriodSeconds = period,
        TimeoutSeconds = 3,
        FailureThreshold = failures,
    };

    public static V1Probe TcpProbe(string port, int period, int failures) => new()
    {
        TcpSocket = new V1TCPSocketAction { Port = port },
        PeriodSeconds = period,
        TimeoutSeconds = 5,
        FailureThreshold = failures,
    };

    public static List<V1ContainerPort> ContainerPorts(IEnumerable<Binding> bindings) =>
        bindings.Select(b => new V1ContainerPort { Name = b.Name, ContainerPort = b.Port, Protocol = "TCP" }).ToList();

    /// <summary>envFrom the resource's ConfigMap, or null when it has no plain settings.</summary>
    public static List<V1EnvFromSource>? EnvConfigMapRef(string name, ContainerEnv env) =>
        env.ConfigMapLiterals.Count == 0 ? null
            : [new V1EnvFromSource { ConfigMapRef = new V1ConfigMapEnvSource { Name = Kustomizations.EnvConfigMapName(name) } }];

    public static V1Service Service(string name, IEnumerable<Binding> bindings) => new()
    {
        Metadata = Meta(name),
        Spec = new V1ServiceSpec
        {
            Type = "ClusterIP",
            Selector = Selector(name),
            Ports = bindings.Select(b => new V1ServicePort { Name = b.Name, Port = b.Port, TargetPort = b.Name, Protocol = "TCP" }).ToList(),
        },
    };
}
