using System.Text.Json.Nodes;
using k8s.Models;
using static AgentBus.Deploy.K8sObjects;

namespace AgentBus.Deploy;

/// <summary>base/&lt;name&gt;/ for a Prometheus exporter (container.v0 of an image
/// <see cref="Policy.ForExporter"/> knows: postgres_exporter, redis_exporter): a stateless
/// single-replica Deployment, its Service, a NetworkPolicy admitting Prometheus only, and the
/// exporter's files as a ConfigMap mounted where the model's settings point.</summary>
internal sealed class ExporterWorkloads(
    AspireManifest manifest, GeneratedFiles files, ManagedDataComponent managedData, PostgresTlsComponent postgresTls, ISet<string> dataStores,
    IReadOnlyDictionary<string, IReadOnlyList<string>> clients)
{
    public void Add(string name, JsonObject resource, ExporterPolicy policy)
    {
        var image = (string?)resource["image"] ?? throw new InvalidDataException($"{name}: no image");
        var bindings = manifest.Bindings(name);
        var env = new ContainerEnv(manifest, resource["env"]?.AsObject(), dataStores);
        if ((resource["bindMounts"] as JsonArray)?.Count > 0)
            throw new InvalidDataException($"{name}: bind mounts have no place in a cluster");
        if (bindings.FirstOrDefault(b => b.Scheme == "http") is null)
            throw new InvalidDataException($"{name}: an exporter needs an http binding for /metrics");

        var mounts = new List<V1VolumeMount> { TmpMount() };
        var volumes = new List<V1Volume> { TmpVolume() };
        if (policy.Files is { } exporterFiles)
        {
            volumes.Add(new V1Volume { Name = "files", ConfigMap = new V1ConfigMapVolumeSource { Name = FilesConfigMapName(name) } });
            mounts.Add(new V1VolumeMount { Name = "files", MountPath = exporterFiles.MountPath, ReadOnlyProperty = true });
        }
        var container = new V1Container
        {
            Name = name,
            Image = image,
            ImagePullPolicy = "IfNotPresent",
            Args = resource["args"]?.AsArray().Select(a => (string?)a ?? "").ToList() is { Count: > 0 } args ? args : null,
            Ports = ContainerPorts(bindings),
            Env = env.SecretVars.Concat(env.ComposedVars).ToList(),
            EnvFrom = EnvConfigMapRef(name, env),
            // /metrics answers even while the server is down (pg_up/redis_up say so, and alerts
            // read them): the probes only restart an exporter that stopped answering.
            LivenessProbe = HttpProbe("/metrics", period: 30, failures: 3),
            ReadinessProbe = HttpProbe("/metrics", period: 15, failures: 3),
            Resources = ComputeResources(policy.Sizing),
            SecurityContext = ContainerSecurity(),
            VolumeMounts = mounts,
        };
        var pod = PodSpec(policy.Uid, container, terminationGraceSeconds: 10);
        pod.Volumes = volumes;

        files.Add($"base/{name}/deployment.yaml", new V1Deployment
        {
            Metadata = Meta(name),
            Spec = new V1DeploymentSpec { Replicas = 1, Selector = LabelSelector(name), Template = Template(name, pod) },
        });
        files.Add($"base/{name}/service.yaml", Service(name, bindings));
        files.Add($"base/{name}/networkpolicy.yaml", NetworkAccess.ForExporter(name, bindings, clients.GetValueOrDefault(name, [])));
        var kustomization = Kustomizations.ForResource(name, ["deployment.yaml", "service.yaml", "networkpolicy.yaml"], env);
        if (policy.Files is { } fromRepository)
        {
            // In a folder of their own: everything else beside the kustomization is a Kubernetes object.
            foreach (var (file, content) in fromRepository.Contents)
                files.AddText($"base/{name}/{Policy.ExporterFilesFolder}/{file}", content);
            var generators = kustomization.TryGetValue("configMapGenerator", out var existing) ? (List<object>)existing : [];
            generators.Add(new Dictionary<string, object>
            {
                ["name"] = FilesConfigMapName(name),
                ["files"] = fromRepository.Contents.Keys.Select(f => $"{Policy.ExporterFilesFolder}/{f}").ToList(),
                ["options"] = new Dictionary<string, object> { ["labels"] = Labels(name) },
            });
            kustomization["configMapGenerator"] = generators;
        }
        files.AddYaml($"base/{name}/kustomization.yaml", kustomization);

        var configMaps = new List<string>();
        if (env.ConfigMapLiterals.Count > 0) configMaps.Add(Kustomizations.EnvConfigMapName(name));
        if (policy.Files is not null) configMaps.Add(FilesConfigMapName(name));
        if (policy.ReadsDataStore)
        {
            managedData.RemoveExporter(name, configMaps);
        }

        // Where Postgres serves TLS only (the prod overlay), the exporter verifies it like every client.
        if (env.ComposedVars.Where(v => v.Name == "DATA_SOURCE_NAME").ToList() is [_] dataSource)
            postgresTls.AddUrlClient(name, "apps/v1", "Deployment", env, dataSource);
    }

    private static string FilesConfigMapName(string name) => $"{name}-files";
}
