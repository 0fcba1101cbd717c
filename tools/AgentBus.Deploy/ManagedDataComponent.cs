namespace AgentBus.Deploy;

/// <summary>components/managed-data/: a kustomize Component that swaps the in-cluster data stores
/// for managed services. It deletes each data store's objects and points every workload's
/// connection strings at Secret <see cref="Policy.ManagedDataSecretName"/>.</summary>
internal sealed class ManagedDataComponent(GeneratedFiles files)
{
    private const string Folder = "components/managed-data";

    // In resource order, the order the component lists them in.
    private readonly List<string> _patches = [];

    /// <summary>One $patch: delete file per object (kustomize 5.5 crashes on multi-document ones).</summary>
    public void RemoveDataStore(string name, bool hasConfigMap) =>
        Remove(name, ("apps/v1", "StatefulSet"), hasConfigMap ? [Kustomizations.EnvConfigMapName(name)] : []);

    /// <summary>An exporter of an in-cluster data store goes with it: a managed service is watched
    /// through its provider's metrics, or an exporter an overlay points at it (docs/deploy.md).</summary>
    public void RemoveExporter(string name, IEnumerable<string> configMaps) =>
        Remove(name, ("apps/v1", "Deployment"), configMaps);

    private void Remove(string name, (string ApiVersion, string Kind) workload, IEnumerable<string> configMaps)
    {
        var objects = new List<(string ApiVersion, string Kind, string Name)>
        {
            (workload.ApiVersion, workload.Kind, name), ("v1", "Service", name), ("networking.k8s.io/v1", "NetworkPolicy", name),
        };
        objects.AddRange(configMaps.Select(c => ("v1", "ConfigMap", c)));
        foreach (var (apiVersion, kind, objectName) in objects)
        {
            var file = objectName == name || objectName == Kustomizations.EnvConfigMapName(name)
                ? $"remove-{name}-{kind.ToLowerInvariant()}.yaml"
                : $"remove-{objectName}-{kind.ToLowerInvariant()}.yaml";
            AddPatch(file, new Dictionary<string, object>
            {
                ["$patch"] = "delete",
                ["apiVersion"] = apiVersion,
                ["kind"] = kind,
                ["metadata"] = new Dictionary<string, string> { ["name"] = objectName },
            });
        }
    }

    /// <summary>Each connection-string variable reads the managed Secret instead; secret variables
    /// that only served those strings are dropped, so no reference to a removed key remains.</summary>
    public void ReplaceConnections(string name, ServicePolicy policy, ContainerEnv env)
    {
        if (env.DataStoreConnections.Count == 0) return;
        var replaced = env.DataStoreConnections.Select(c => c.Variable).ToHashSet();
        var stillUsed = env.SecretVarsUsedBy.Where(kv => !replaced.Contains(kv.Key)).SelectMany(kv => kv.Value).ToHashSet();
        var items = new List<object>();
        foreach (var (variable, connectionString) in env.DataStoreConnections)
        {
            items.Add(new Dictionary<string, object?>
            {
                ["name"] = variable,
                ["value"] = null, // strategic merge: drop the in-cluster value
                ["valueFrom"] = new Dictionary<string, object>
                {
                    ["secretKeyRef"] = new Dictionary<string, string> { ["name"] = Policy.ManagedDataSecretName, ["key"] = connectionString },
                },
            });
        }
        foreach (var unused in replaced.SelectMany(v => env.SecretVarsUsedBy[v]).Distinct().Where(v => !stillUsed.Contains(v)))
            items.Add(new Dictionary<string, object> { ["name"] = unused, ["$patch"] = "delete" });

        AddPatch($"{name}.yaml", new Dictionary<string, object?>
        {
            ["apiVersion"] = policy.RunsToCompletion ? "batch/v1" : "apps/v1",
            ["kind"] = policy.RunsToCompletion ? "Job" : policy.DaemonSetOnGpuNodes ? "DaemonSet" : "Deployment",
            ["metadata"] = new Dictionary<string, string> { ["name"] = name },
            ["spec"] = new Dictionary<string, object>
            {
                ["template"] = new Dictionary<string, object>
                {
                    ["spec"] = new Dictionary<string, object>
                    {
                        ["containers"] = new List<object>
                        {
                            new Dictionary<string, object> { ["name"] = name, ["env"] = items },
                        },
                    },
                },
            },
        });
    }

    /// <summary>The Component itself, listing every patch added before.</summary>
    public void AddKustomization() =>
        files.AddYaml($"{Folder}/kustomization.yaml",
            "# Managed Postgres/Redis instead of the in-cluster StatefulSets: list this component in an\n" +
            $"# overlay and create Secret {Policy.ManagedDataSecretName} (one key per connection string, docs/deploy.md).\n",
            new Dictionary<string, object>
            {
                ["apiVersion"] = "kustomize.config.k8s.io/v1alpha1",
                ["kind"] = "Component",
                ["patches"] = _patches.Select(p => new Dictionary<string, string> { ["path"] = p }).ToList(),
            });

    private void AddPatch(string file, object patch)
    {
        files.AddYaml($"{Folder}/{file}", patch);
        _patches.Add(file);
    }
}
