using k8s.Models;

namespace AgentBus.Deploy;

/// <summary>components/postgres-tls/: a kustomize Component (the prod overlay lists it) with which the
/// in-cluster Postgres serves TLS only and every client verifies it. The certificate is Secret
/// <see cref="SecretName"/> in cert-manager's layout (tls.crt, tls.key, ca.crt) for the Service's
/// names (docs/deploy.md). Each client's Postgres connection strings get <c>SSL Mode=VerifyFull</c>
/// and the CA, mounted from the same Secret (ca.crt only).</summary>
internal sealed class PostgresTlsComponent(GeneratedFiles files)
{
    public const string Folder = "components/postgres-tls";
    public const string SecretName = "postgres-tls";
    public const string CaMountPath = "/etc/agent-bus/postgres-ca";
    private const string ServerMountPath = "/etc/postgresql/tls";
    private const string HbaMountPath = "/etc/postgresql/hba";
    private const string HbaConfigMap = "postgres-hba";

    private readonly List<object> _patches = [];
    private readonly List<string> _resources = [];

    /// <summary>TLS settings appended to a connection string of a client of the in-cluster Postgres.</summary>
    public static string ClientSettings => $";SSL Mode=VerifyFull;Root Certificate={CaMountPath}/ca.crt";

    /// <summary>A client: its Postgres connection strings (whole composed values) verify the server.
    /// The secret variables come first in the patch as in the workload: a strategic merge puts the
    /// patch's entries first, and $(VAR) only sees variables defined before it.</summary>
    public void AddClient(string name, string apiVersion, string kind, ContainerEnv env, IReadOnlyList<V1EnvVar> connections) =>
        AddClient(name, apiVersion, kind, env, connections, value => value + ClientSettings);

    /// <summary>A client whose connection is a libpq URL (postgres_exporter's DATA_SOURCE_NAME):
    /// its sslmode=disable becomes verify-full with the same CA.</summary>
    public void AddUrlClient(string name, string apiVersion, string kind, ContainerEnv env, IReadOnlyList<V1EnvVar> connections) =>
        AddClient(name, apiVersion, kind, env, connections, value => value.Contains("sslmode=disable", StringComparison.Ordinal)
            ? value.Replace("sslmode=disable", $"sslmode=verify-full&sslrootcert={CaMountPath}/ca.crt", StringComparison.Ordinal)
            : throw new InvalidDataException($"{name}: a Postgres URL without sslmode=disable, which TLS would replace"));

    private void AddClient(string name, string apiVersion, string kind, ContainerEnv env, IReadOnlyList<V1EnvVar> connections, Func<string, string> withTls)
    {
        if (connections.Count == 0) return;
        AddPatch($"{name}.yaml", new Dictionary<string, object>
        {
            ["apiVersion"] = apiVersion,
            ["kind"] = kind,
            ["metadata"] = new Dictionary<string, string> { ["name"] = name },
            ["spec"] = Template(
                volume: new Dictionary<string, object>
                {
                    ["name"] = "postgres-ca",
                    ["secret"] = new Dictionary<string, object>
                    {
                        ["secretName"] = SecretName,
                        ["items"] = new List<object> { new Dictionary<string, string> { ["key"] = "ca.crt", ["path"] = "ca.crt" } },
                    },
                },
                container: new Dictionary<string, object>
                {
                    ["name"] = name,
                    ["env"] = env.SecretVars.Concat(connections.Select(c => new V1EnvVar { Name = c.Name, Value = withTls(c.Value) })).ToList(),
                    ["volumeMounts"] = new List<object> { Mount("postgres-ca", CaMountPath) },
                }),
        });
    }

    /// <summary>The server: ssl on with the Secret's key pair, and a pg_hba.conf that admits TCP
    /// connections over TLS only (hostssl); the local socket stays for the image's own set-up.</summary>
    public void AddServer(string name)
    {
        files.AddYaml($"{Folder}/{HbaConfigMap}.yaml", new Dictionary<string, object>
        {
            ["apiVersion"] = "v1",
            ["kind"] = "ConfigMap",
            ["metadata"] = new Dictionary<string, object> { ["name"] = HbaConfigMap, ["namespace"] = Policy.Namespace, ["labels"] = K8sObjects.Labels(name) },
            ["data"] = new Dictionary<string, string>
            {
                ["pg_hba.conf"] = "# TCP only over TLS, with a password (SCRAM); the socket is the container's own.\n" +
                    "local   all  all        trust\n" +
                    "hostssl all  all  all   scram-sha-256\n",
            },
        });
        _resources.Add($"{HbaConfigMap}.yaml");
        AddPatch($"{name}.yaml", new Dictionary<string, object>
        {
            ["apiVersion"] = "apps/v1",
            ["kind"] = "StatefulSet",
            ["metadata"] = new Dictionary<string, string> { ["name"] = name },
            ["spec"] = Template(
                volume: new Dictionary<string, object>
                {
                    ["name"] = "tls",
                    // Postgres accepts a key owned by root only if no one but root and its group
                    // (fsGroup: the postgres user) can read it: 0440.
                    ["secret"] = new Dictionary<string, object> { ["secretName"] = SecretName, ["defaultMode"] = 288 },
                },
                container: new Dictionary<string, object>
                {
                    ["name"] = name,
                    ["volumeMounts"] = new List<object> { Mount("tls", ServerMountPath), Mount("hba", HbaMountPath) },
                },
                extraVolume: new Dictionary<string, object>
                {
                    ["name"] = "hba",
                    ["configMap"] = new Dictionary<string, string> { ["name"] = HbaConfigMap },
                }),
        });
        // Appended after the base's arguments (max_connections stays where the overlays set it).
        var args = new[] { "ssl=on", $"ssl_cert_file={ServerMountPath}/tls.crt", $"ssl_key_file={ServerMountPath}/tls.key", $"hba_file={HbaMountPath}/pg_hba.conf" };
        var file = $"{name}-args.yaml";
        files.AddYaml($"{Folder}/{file}", args.SelectMany(a => new[] { "-c", a })
            .Select(a => new Dictionary<string, string> { ["op"] = "add", ["path"] = "/spec/template/spec/containers/0/args/-", ["value"] = a }).ToList());
        _patches.Add(new Dictionary<string, object>
        {
            ["path"] = file,
            ["target"] = new Dictionary<string, string> { ["kind"] = "StatefulSet", ["name"] = name },
        });
    }

    public void AddKustomization() =>
        files.AddYaml($"{Folder}/kustomization.yaml",
            "# Postgres over TLS only, verified by every client: list this component in an overlay and\n" +
            $"# create Secret {SecretName} (tls.crt, tls.key, ca.crt; e.g. from cert-manager, docs/deploy.md).\n",
            new Dictionary<string, object>
            {
                ["apiVersion"] = "kustomize.config.k8s.io/v1alpha1",
                ["kind"] = "Component",
                ["resources"] = _resources,
                ["patches"] = _patches,
            });

    private static Dictionary<string, object> Template(Dictionary<string, object> volume, Dictionary<string, object> container, Dictionary<string, object>? extraVolume = null) => new()
    {
        ["template"] = new Dictionary<string, object>
        {
            ["spec"] = new Dictionary<string, object>
            {
                ["volumes"] = extraVolume is null ? new List<object> { volume } : [volume, extraVolume],
                ["containers"] = new List<object> { container },
            },
        },
    };

    private static Dictionary<string, object> Mount(string name, string path) =>
        new() { ["name"] = name, ["mountPath"] = path, ["readOnly"] = true };

    private void AddPatch(string file, object patch)
    {
        files.AddYaml($"{Folder}/{file}", patch);
        _patches.Add(new Dictionary<string, string> { ["path"] = file });
    }
}
