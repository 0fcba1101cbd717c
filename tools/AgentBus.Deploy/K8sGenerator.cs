using k8s.Models;

namespace AgentBus.Deploy;

/// <summary>Turns aspire-manifest.json into kustomize trees under k8s/, in aspirate's layout:
/// base/&lt;resource&gt;/ with the workload, its Service and a kustomization (configMapGenerator
/// &lt;name&gt;-env), base/kustomization.yaml, secrets/kustomization.yaml and
/// components/managed-data/. Everything is built from KubernetesClient's typed models, so each
/// object is well-formed by construction.</summary>
/// <remarks>This class walks the model and writes the cluster-wide files; <see cref="ProjectWorkloads"/>,
/// <see cref="DataStoreWorkloads"/> and <see cref="ManagedDataComponent"/> write the rest.</remarks>
public sealed class K8sGenerator(AspireManifest manifest)
{
    /// <summary>Folders (under k8s/) that the generator owns entirely and rewrites.</summary>
    public static readonly string[] OwnedFolders = ["base", "components/managed-data", PostgresTlsComponent.Folder];
    /// <summary>Single files it owns outside those folders.</summary>
    public static readonly string[] OwnedFiles = ["secrets/kustomization.yaml"];

    private readonly GeneratedFiles _files = new();

    /// <summary>Relative path under k8s/ to file content.</summary>
    public static IReadOnlyDictionary<string, string> Generate(AspireManifest manifest) => new K8sGenerator(manifest).Run();

    /// <summary>Writes the files under <paramref name="k8sDir"/>, first removing the owned folders so a
    /// resource dropped from the model disappears. Secret values in k8s/secrets are never touched.</summary>
    public static void WriteTo(AspireManifest manifest, string k8sDir)
    {
        var files = Generate(manifest);
        foreach (var folder in OwnedFolders)
        {
            var path = Path.Combine(k8sDir, folder);
            if (Directory.Exists(path)) Directory.Delete(path, recursive: true);
        }
        foreach (var (relative, content) in files)
        {
            var path = Path.Combine(k8sDir, relative);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllText(path, content);
        }
    }

    private IReadOnlyDictionary<string, string> Run()
    {
        var dataStores = manifest.Resources.Where(r => AspireManifest.TypeOf(r.Resource) == "container.v0" && ExporterOf(r.Resource) is null)
            .Select(r => r.Name).ToHashSet();
        var managedData = new ManagedDataComponent(_files);
        var postgresTls = new PostgresTlsComponent(_files);
        var clients = NetworkAccess.Clients(manifest);
        var projects = new ProjectWorkloads(manifest, _files, managedData, postgresTls, dataStores, clients);
        var dataStoreWorkloads = new DataStoreWorkloads(manifest, _files, managedData, postgresTls, dataStores, clients);
        var exporters = new ExporterWorkloads(manifest, _files, managedData, postgresTls, dataStores, clients);
        var folders = new List<string>();
        foreach (var (name, resource) in manifest.Resources)
        {
            switch (AspireManifest.TypeOf(resource))
            {
                case "parameter.v0" or "value.v0":
                    continue; // values only: resolved where they are used
                case "project.v0":
                    projects.Add(name, resource);
                    break;
                case "container.v0" when ExporterOf(resource) is { } exporter:
                    exporters.Add(name, resource, exporter);
                    break;
                case "container.v0":
                    dataStoreWorkloads.Add(name, resource);
                    break;
                case var type:
                    throw new InvalidDataException($"{name}: resource type '{type}' has no Kubernetes mapping yet");
            }
            folders.Add(name);
        }

        AddNamespace();
        _files.Add($"base/{NetworkAccess.DefaultDenyName}.yaml", NetworkAccess.DefaultDenyIngress());
        _files.AddYaml("base/kustomization.yaml", Kustomizations.Create(new()
        {
            ["namespace"] = Policy.Namespace,
            ["resources"] = new List<string> { "namespace.yaml", $"{NetworkAccess.DefaultDenyName}.yaml" }.Concat(folders).ToList(),
        }));
        AddSecretsKustomization();
        managedData.AddKustomization();
        postgresTls.AddKustomization();
        return _files.All;
    }

    private static ExporterPolicy? ExporterOf(System.Text.Json.Nodes.JsonObject resource) =>
        (string?)resource["image"] is { } image ? Policy.ForExporter(image) : null;

    private void AddNamespace() => _files.Add("base/namespace.yaml", new V1Namespace
    {
        Metadata = new V1ObjectMeta
        {
            Name = Policy.Namespace,
            Labels = new Dictionary<string, string>
            {
                ["app.kubernetes.io/part-of"] = Policy.PartOf,
                // Every pod here meets the "restricted" Pod Security Standard; enforce it.
                ["pod-security.kubernetes.io/enforce"] = "restricted",
                ["pod-security.kubernetes.io/audit"] = "restricted",
                ["pod-security.kubernetes.io/warn"] = "restricted",
            },
        },
    });

    /// <summary>secrets/kustomization.yaml: the Secret's keys, one per secret parameter.</summary>
    private void AddSecretsKustomization() => _files.AddYaml("secrets/kustomization.yaml",
        "# The values are files beside this one, one per key, never committed: scripts/make-dev-secrets.sh\n" +
        "# writes random ones; see README.md. Apply with: kubectl apply -k k8s/secrets\n",
        Kustomizations.Create(new()
        {
            ["namespace"] = Policy.Namespace,
            // A stable name: the workloads of the overlays reference it without this build.
            ["generatorOptions"] = new Dictionary<string, object>
            {
                ["disableNameSuffixHash"] = true,
                ["labels"] = new Dictionary<string, string> { ["app.kubernetes.io/part-of"] = Policy.PartOf },
            },
            ["secretGenerator"] = new List<object>
            {
                new Dictionary<string, object>
                {
                    ["name"] = Policy.SecretName,
                    ["type"] = "Opaque",
                    ["files"] = manifest.Parameters.Where(manifest.IsSecretParameter).ToList(),
                },
            },
        }));
}
