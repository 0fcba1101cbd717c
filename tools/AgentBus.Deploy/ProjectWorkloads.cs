using System.Text.Json.Nodes;
using k8s;
using k8s.Models;
using static AgentBus.Deploy.K8sObjects;

namespace AgentBus.Deploy;

/// <summary>base/&lt;name&gt;/ for a .NET service (project.v0): a Deployment, or a DaemonSet on GPU
/// nodes, its Service, and as its <see cref="ServicePolicy"/> asks an HPA, a PodDisruptionBudget
/// and Ingresses (<see cref="Ingresses"/>).</summary>
internal sealed class ProjectWorkloads(
    AspireManifest manifest, GeneratedFiles files, ManagedDataComponent managedData, PostgresTlsComponent postgresTls, ISet<string> dataStores,
    IReadOnlyDictionary<string, IReadOnlyList<string>> clients)
{
    public void Add(string name, JsonObject resource)
    {
        var policy = Policy.ForService(name);
        var bindings = manifest.Bindings(name);
        var env = new ContainerEnv(manifest, resource["env"]?.AsObject(), dataStores);
        var postgresConnections = SizePostgresPools(name, policy, env);
        if (policy.RunsToCompletion)
        {
            AddJob(name, policy, env);
            postgresTls.AddClient(name, "batch/v1", "Job", env, postgresConnections);
            return;
        }
        var ingress = policy.Ingress ?? (bindings.Any(b => b.External) ? new IngressPolicy(["/"]) : null);
        // Behind the Ingress the client address and scheme come from the controller's headers; nobody
        // else's are believed.
        if (ingress is not null)
            env.ConfigMapLiterals.Add($"{Policy.TrustedProxyNetworksSetting}={Policy.Peers.IngressControllerNetworks}");
        var container = new V1Container
        {
            Name = name,
            Image = $"agent-bus/{name}", // src/Container.props; overlays pin registry and tag
            ImagePullPolicy = "IfNotPresent",
            Ports = ContainerPorts(bindings),
            Env = env.SecretVars.Concat(env.ComposedVars).ToList(),
            EnvFrom = EnvConfigMapRef(name, env),
            // Startup covers a slow first start; liveness never touches dependencies; readiness
            // takes the pod out of the Service while Postgres or Redis does not answer.
            StartupProbe = HttpProbe("/health", period: 5, failures: 24),
            LivenessProbe = HttpProbe("/health", period: 10, failures: 3),
            ReadinessProbe = HttpProbe("/health/ready", period: 5, failures: 3),
            Resources = ComputeResources(policy.Sizing),
            SecurityContext = ContainerSecurity(),
            VolumeMounts = [TmpMount()],
        };
        var pod = PodSpec(Policy.DotnetUid, container, policy.TerminationGraceSeconds);
        pod.Volumes = [TmpVolume()];

        var resourceFiles = new List<string>();
        void AddFile<T>(string file, T obj) where T : IKubernetesObject
        {
            files.Add($"base/{name}/{file}", obj);
            resourceFiles.Add(file);
        }

        if (policy.DaemonSetOnGpuNodes)
        {
            GpuPlacement(pod, container);
            AddFile("daemonset.yaml", DaemonSet(name, pod));
        }
        else
        {
            if (policy.Autoscale is not null)
                SpreadOverNodes(name, pod);
            AddFile("deployment.yaml", Deployment(name, pod, autoscaled: policy.Autoscale is not null));
        }
        AddFile("service.yaml", Service(name, bindings));
        AddFile("networkpolicy.yaml", NetworkAccess.ForService(name, bindings, ingress is not null, clients.GetValueOrDefault(name) ?? []));
        if (policy.Autoscale is var (min, max))
            AddFile("hpa.yaml", Autoscaler(name, min, max));
        if (policy.DisruptionBudget)
            AddFile("pdb.yaml", DisruptionBudget(name));
        if (ingress is not null)
        {
            var http = bindings.First(b => b.Scheme == "http");
            AddFile("ingress.yaml", Ingresses.Public(name, ingress, http));
            if (Ingresses.ExposesClusterOnlyPaths(ingress))
                AddFile("ingress-cluster-only.yaml", Ingresses.ClusterOnly(name, http));
        }
        files.AddYaml($"base/{name}/kustomization.yaml", Kustomizations.ForResource(name, resourceFiles, env));

        managedData.ReplaceConnections(name, policy, env);
        postgresTls.AddClient(name, "apps/v1", policy.DaemonSetOnGpuNodes ? "DaemonSet" : "Deployment", env, postgresConnections);
    }

    /// <summary>base/&lt;name&gt;/job.yaml: the one-shot resource, retried until it exits 0 (Postgres may
    /// still be starting), then removed after <see cref="Policy.FinishedJobSeconds"/>.</summary>
    private void AddJob(string name, ServicePolicy policy, ContainerEnv env)
    {
        var container = new V1Container
        {
            Name = name,
            Image = $"agent-bus/{name}", // src/Container.props; overlays pin registry and tag
            ImagePullPolicy = "IfNotPresent",
            Env = env.SecretVars.Concat(env.ComposedVars).ToList(),
            EnvFrom = EnvConfigMapRef(name, env),
            Resources = ComputeResources(policy.Sizing),
            SecurityContext = ContainerSecurity(),
            VolumeMounts = [TmpMount()],
        };
        var pod = PodSpec(Policy.DotnetUid, container, policy.TerminationGraceSeconds);
        pod.Volumes = [TmpVolume()];
        pod.RestartPolicy = "OnFailure";
        files.Add($"base/{name}/job.yaml", new V1Job
        {
            Metadata = Meta(name),
            Spec = new V1JobSpec { BackoffLimit = 10, TtlSecondsAfterFinished = Policy.FinishedJobSeconds, Template = Template(name, pod) },
        });
        files.AddYaml($"base/{name}/kustomization.yaml", Kustomizations.ForResource(name, ["job.yaml"], env));
        managedData.ReplaceConnections(name, policy, env);
    }

    /// <summary>Appends the service's <c>Maximum Pool Size</c> to each connection string it holds to an
    /// in-cluster Postgres, so its pods together stay within max_connections (a test sums them over the
    /// rendered overlays). A service that connects to Postgres with no pool size in its policy stops
    /// generation: Npgsql's default of 100 per pod would not fit. Returns those variables.</summary>
    private List<V1EnvVar> SizePostgresPools(string name, ServicePolicy policy, ContainerEnv env)
    {
        var sized = new List<V1EnvVar>();
        foreach (var (variable, connectionString) in env.DataStoreConnections)
        {
            var hosts = manifest.Resolve($"{{{connectionString}.connectionString}}").Hosts;
            if (!hosts.Any(h => (string?)manifest[h]["image"] is { } image && Policy.Repository(image) == "postgres")) continue;
            var pool = policy.PostgresPoolSize
                ?? throw new InvalidDataException($"{name}: {variable} connects to Postgres but Policy.ForService(\"{name}\") sets no PostgresPoolSize");
            var composed = env.ComposedVars.Single(v => v.Name == variable);
            composed.Value += ";Maximum Pool Size=" + pool.ToString(System.Globalization.CultureInfo.InvariantCulture);
            sized.Add(composed);
        }
        return sized;
    }

    /// <summary>gpu-agent: one pod on every GPU node. It requests no nvidia.com/gpu: a monitor must
    /// see every GPU of its node, and a device-plugin request would both hide the others from it
    /// and take one away from the workloads. The NVIDIA runtime exposes all GPUs read-only for
    /// NVML instead (as NVIDIA's dcgm-exporter does); docs/deploy.md says how to switch.</summary>
    private static void GpuPlacement(V1PodSpec pod, V1Container container)
    {
        pod.NodeSelector = new Dictionary<string, string> { [Policy.GpuNodeLabel] = "true" };
        pod.Tolerations = [new V1Toleration { Key = Policy.GpuResource, OperatorProperty = "Exists", Effect = "NoSchedule" }];
        pod.RuntimeClassName = "nvidia";
        container.Env =
        [
            .. container.Env,
            new V1EnvVar { Name = "NVIDIA_VISIBLE_DEVICES", Value = "all" },
            new V1EnvVar { Name = "NVIDIA_DRIVER_CAPABILITIES", Value = "utility" },
            // Metrics carry the node name; the pod's hostname is the pod name, not the node's.
            new V1EnvVar
            {
                Name = "NODE_NAME",
                ValueFrom = new V1EnvVarSource { FieldRef = new V1ObjectFieldSelector { FieldPath = "spec.nodeName" } },
            },
        ];
    }

    /// <summary>Spread replicas over nodes so one node's loss leaves capacity behind.</summary>
    private static void SpreadOverNodes(string name, V1PodSpec pod) =>
        pod.TopologySpreadConstraints =
        [
            new V1TopologySpreadConstraint
            {
                MaxSkew = 1, TopologyKey = "kubernetes.io/hostname", WhenUnsatisfiable = "ScheduleAnyway",
                LabelSelector = LabelSelector(name),
            },
        ];

    /// <summary>The DaemonSet runs one pod per GPU node, a number no manifest bounds: the annotation
    /// says how many the Postgres connection budget counts (docs/deploy.md).</summary>
    private static V1DaemonSet DaemonSet(string name, V1PodSpec pod) => new()
    {
        Metadata = Meta(name, new Dictionary<string, string>
        {
            [Policy.BudgetedNodesAnnotation] = Policy.GpuNodesBudgeted.ToString(System.Globalization.CultureInfo.InvariantCulture),
        }),
        Spec = new V1DaemonSetSpec
        {
            Selector = LabelSelector(name),
            UpdateStrategy = new V1DaemonSetUpdateStrategy { Type = "RollingUpdate" },
            Template = Template(name, pod),
        },
    };

    private static V1Deployment Deployment(string name, V1PodSpec pod, bool autoscaled) => new()
    {
        Metadata = Meta(name),
        Spec = new V1DeploymentSpec
        {
            // No replicas field when an HPA owns the count, so re-applying never fights it.
            Replicas = autoscaled ? null : 1,
            Selector = LabelSelector(name),
            Template = Template(name, pod),
        },
    };

    private static V2HorizontalPodAutoscaler Autoscaler(string name, int min, int max) => new()
    {
        Metadata = Meta(name),
        Spec = new V2HorizontalPodAutoscalerSpec
        {
            ScaleTargetRef = new V2CrossVersionObjectReference { ApiVersion = "apps/v1", Kind = "Deployment", Name = name },
            MinReplicas = min,
            MaxReplicas = max,
            Metrics =
            [
                new V2MetricSpec
                {
                    Type = "Resource",
                    Resource = new V2ResourceMetricSource
                    {
                        Name = "cpu",
                        Target = new V2MetricTarget { Type = "Utilization", AverageUtilization = 70 },
                    },
                },
            ],
        },
    };

    /// <summary>maxUnavailable, not minAvailable: a single replica (dev) must not block node drains.</summary>
    private static V1PodDisruptionBudget DisruptionBudget(string name) => new()
    {
        Metadata = Meta(name),
        Spec = new V1PodDisruptionBudgetSpec { MaxUnavailable = 1, Selector = LabelSelector(name) },
    };
}
