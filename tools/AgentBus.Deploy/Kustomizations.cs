namespace AgentBus.Deploy;

/// <summary>kustomization.yaml bodies, and the name of the ConfigMap a resource's one generates.</summary>
internal static class Kustomizations
{
    /// <summary>ConfigMap of a resource's plain settings (configMapGenerator &lt;name&gt;-env).</summary>
    public static string EnvConfigMapName(string name) => $"{name}-env";

    /// <summary>A Kustomization with apiVersion and kind first, then <paramref name="body"/>.</summary>
    public static Dictionary<string, object> Create(Dictionary<string, object> body)
    {
        var result = new Dictionary<string, object>
        {
            ["apiVersion"] = "kustomize.config.k8s.io/v1beta1",
            ["kind"] = "Kustomization",
        };
        foreach (var (key, value) in body) result[key] = value;
        return result;
    }

    /// <summary>base/&lt;name&gt;/kustomization.yaml: the resource's files, plus a ConfigMap of its
    /// plain settings when it has any.</summary>
    public static Dictionary<string, object> ForResource(string name, IEnumerable<string> files, ContainerEnv env)
    {
        var kustomization = Create(new() { ["resources"] = files.ToList() });
        if (env.ConfigMapLiterals.Count > 0)
        {
            kustomization["configMapGenerator"] = new List<object>
            {
                new Dictionary<string, object>
                {
                    ["name"] = EnvConfigMapName(name),
                    ["literals"] = env.ConfigMapLiterals,
                    ["options"] = new Dictionary<string, object> { ["labels"] = K8sObjects.Labels(name) },
                },
            };
        }
        return kustomization;
    }
}
