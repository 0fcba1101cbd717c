using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using k8s.Models;
using static AgentBus.Deploy.K8sObjects;

namespace AgentBus.Deploy;

/// <summary>base/&lt;name&gt;/ for a backing container (container.v0: Postgres, Redis): a single-replica
/// StatefulSet with a volume claim per data directory, its Service, and a NetworkPolicy.</summary>
internal sealed partial class DataStoreWorkloads(
    AspireManifest manifest, GeneratedFiles files, ManagedDataComponent managedData, PostgresTlsComponent postgresTls, ISet<string> dataStores,
    IReadOnlyDictionary<string, IReadOnlyList<string>> clients)
{
    public void Add(string name, JsonObject resource)
    {
        var image = (string?)resource["image"] ?? throw new InvalidDataException($"{name}: no image");
        var policy = Policy.ForDataStore(image);
        var bindings = manifest.Bindings(name);
        var env = new ContainerEnv(manifest, resource["env"]?.AsObject(), dataStores);
        if ((resource["bindMounts"] as JsonArray)?.Count > 0)
            throw new InvalidDataException($"{name}: bind mounts have no place in a cluster");

        // Manifest volumes, plus the image's data directory when the model keeps none there.
        var claims = new List<(string Name, string Path)>();
        foreach (var volume in resource["volumes"]?.AsArray() ?? [])
        {
            var target = (string?)volume?["target"] ?? throw new InvalidDataException($"{name}: volume without target");
            claims.Add((VolumeName(name, (string?)volume?["name"], claims.Count), target));
        }
        if (policy.DataDir is { } dataDir && claims.All(c => c.Path != dataDir))
            claims.Add(("data", dataDir));

        var mounts = claims.Select(c => new V1VolumeMount { Name = c.Name, MountPath = c.Path })
            .Append(TmpMount()).ToList();
        var volumes = new List<V1Volume> { TmpVolume() };
        foreach (var dir in policy.WritableDirs)
        {
            var volumeName = PathName().Replace(dir.Trim('/'), "-");
            volumes.Add(new V1Volume { Name = volumeName, EmptyDir = new V1EmptyDirVolumeSource() });
            mounts.Add(new V1VolumeMount { Name = volumeName, MountPath = dir });
        }
        if (policy.SharedMemory)
        {
            // The runtime's default /dev/shm (64 MiB) is too small for parallel queries.
            volumes.Add(new V1Volume { Name = "shm", EmptyDir = new V1EmptyDirVolumeSource { Medium = "Memory", SizeLimit = new ResourceQuantity("256Mi") } });
            mounts.Add(new V1VolumeMount { Name = "shm", MountPath = "/dev/shm" });
        }

        var first = bindings.FirstOrDefault() ?? throw new InvalidDataException($"{name}: no binding to serve");
        V1Probe Ready(int period, int failures) => policy.ReadinessCommand is { } command
            ? new V1Probe { Exec = new V1ExecAction { Command = [.. command] }, PeriodSeconds = period, TimeoutSeconds = 5, FailureThreshold = failures }
            : TcpProbe(first.Name, period, failures);
        // The model's arguments, then the cluster's (Postgres' max_connections). Before Env:
        // interpolating a secret into an argument adds its variable.
        var args = (resource["args"]?.AsArray() ?? []).Select(a => env.Interpolate(manifest.Resolve((string?)a ?? "")))
            .Concat(policy.ServerArgs ?? []).ToList();
        var container = new V1Container
        {
            Name = name,
            Image = image,
            ImagePullPolicy = "IfNotPresent",
            Command = (string?)resource["entrypoint"] is { } entrypoint ? [entrypoint] : null,
            Args = args.Count > 0 ? args : null,
            Ports = ContainerPorts(bindings),
            Env = env.SecretVars.Concat(env.ComposedVars).ToList(),
            EnvFrom = EnvConfigMapRef(name, env),
            StartupProbe = Ready(period: 5, failures: 60), // first start runs initdb
            LivenessProbe = TcpProbe(first.Name, period: 10, failures: 6),
            ReadinessProbe = Ready(period: 10, failures: 3),
            Resources = ComputeResources(policy.Sizing),
            SecurityContext = ContainerSecurity(),
            VolumeMounts = mounts,
        };
        var pod = PodSpec(policy.Uid, container, terminationGraceSeconds: 60);
        pod.Volumes = volumes;

        files.Add($"base/{name}/statefulset.yaml", StatefulSet(name, pod, claims.Select(c => c.Name), policy.Storage));
        files.Add($"base/{name}/service.yaml", Service(name, bindings));
        files.Add($"base/{name}/networkpolicy.yaml",
            NetworkAccess.ForDataStore(name, bindings, policy.ReadByGrafana, clients.GetValueOrDefault(name) ?? []));
        files.AddYaml($"base/{name}/kustomization.yaml",
            Kustomizations.ForResource(name, ["statefulset.yaml", "service.yaml", "networkpolicy.yaml"], env));

        managedData.RemoveDataStore(name, hasConfigMap: env.ConfigMapLiterals.Count > 0);
        if (Policy.Repository(image) == "postgres")
            postgresTls.AddServer(name);
    }

    private static V1StatefulSet StatefulSet(string name, V1PodSpec pod, IEnumerable<string> claims, string storage) => new()
    {
        Metadata = Meta(name),
        Spec = new V1StatefulSetSpec
        {
            ServiceName = name,
            Replicas = 1,
            Selector = LabelSelector(name),
            Template = Template(name, pod),
            VolumeClaimTemplates = claims.Select(claim => new V1PersistentVolumeClaim
            {
                Metadata = new V1ObjectMeta { Name = claim, Labels = Labels(name) },
                Spec = new V1PersistentVolumeClaimSpec
                {
                    AccessModes = ["ReadWriteOnce"],
                    Resources = new V1VolumeResourceRequirements
                    {
                        Requests = new Dictionary<string, ResourceQuantity> { ["storage"] = new(storage) },
                    },
                },
            }).ToList(),
        },
    };

    /// <summary>"agentbus.apphost-073d84e944-postgres-data" becomes "data".</summary>
    private static string VolumeName(string resource, string? volume, int index)
    {
        var at = volume?.LastIndexOf(resource + "-", StringComparison.Ordinal) ?? -1;
        var name = at >= 0 ? volume![(at + resource.Length + 1)..] : $"data-{index}";
        name = PathName().Replace(name.ToLowerInvariant(), "-").Trim('-');
        return name.Length is > 0 and <= 63 ? name : $"data-{index}";
    }

    [GeneratedRegex("[^a-z0-9-]+")]
    private static partial Regex PathName();
}
