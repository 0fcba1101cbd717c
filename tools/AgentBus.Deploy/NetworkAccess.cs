using k8s.Models;
using static AgentBus.Deploy.K8sObjects;

namespace AgentBus.Deploy;

/// <summary>The NetworkPolicies: ingress into every pod of the namespace is denied unless a policy of
/// its workload admits it. Each workload admits the resources whose settings name it (its clients in
/// the model: the web names the api, every service that holds a connection string names postgres
/// or redis), and the peers <see cref="Policy.Peers"/> names: the ingress controller where the
/// workload has an Ingress, Prometheus for the services' /metrics, Grafana where it reads a data store.
/// Egress is left open (DNS, model providers, managed data stores).</summary>
internal static class NetworkAccess
{
    public const string DefaultDenyName = "default-deny-ingress";

    /// <summary>Which resources name which: target resource to the resources whose environment or
    /// arguments use its bindings or its connection string, in manifest order.</summary>
    public static IReadOnlyDictionary<string, IReadOnlyList<string>> Clients(AspireManifest manifest)
    {
        var clients = new Dictionary<string, List<string>>();
        foreach (var (name, resource) in manifest.Resources)
        {
            if (AspireManifest.TypeOf(resource) is not ("project.v0" or "container.v0")) continue;
            var templates = (resource["env"]?.AsObject() ?? [])
                .Select(kv => (Variable: kv.Key, Template: (string?)kv.Value ?? ""))
                .Where(e => !manifest.IsUnservedEndpoint(e.Variable, e.Template))
                .Select(e => e.Template)
                .Concat(resource["args"]?.AsArray().Select(a => (string?)a ?? "") ?? []);
            foreach (var host in templates.SelectMany(t => manifest.Resolve(t).Hosts).Distinct().Where(h => h != name))
            {
                if (!clients.TryGetValue(host, out var list)) clients[host] = list = [];
                list.Add(name);
            }
        }
        return clients.ToDictionary(kv => kv.Key, kv => (IReadOnlyList<string>)kv.Value);
    }

    /// <summary>Selects every pod of the namespace and admits nothing: what no other policy admits is refused.</summary>
    public static V1NetworkPolicy DefaultDenyIngress() => new()
    {
        Metadata = new V1ObjectMeta
        {
            Name = DefaultDenyName,
            Labels = new Dictionary<string, string> { ["app.kubernetes.io/part-of"] = Policy.PartOf },
        },
        Spec = new V1NetworkPolicySpec { PodSelector = new V1LabelSelector(), PolicyTypes = ["Ingress"] },
    };

    /// <summary>A service: its clients, the ingress controller when it has an Ingress, and Prometheus
    /// (every service serves /metrics on its http port).</summary>
    public static V1NetworkPolicy ForService(string name, IEnumerable<Binding> bindings, bool hasIngress, IEnumerable<string> clients)
    {
        var peers = clients.Select(App).ToList();
        if (hasIngress) peers.Add(IngressController());
        peers.Add(Monitoring(Policy.Peers.PrometheusPods));
        return Admitting(name, bindings, peers);
    }

    /// <summary>A data store: the services that hold its connection string, and Grafana where it reads it.</summary>
    public static V1NetworkPolicy ForDataStore(string name, IEnumerable<Binding> bindings, bool readByGrafana, IEnumerable<string> clients)
    {
        var peers = clients.Select(App).ToList();
        if (readByGrafana) peers.Add(Monitoring(Policy.Peers.GrafanaPods));
        return Admitting(name, bindings, peers);
    }

    /// <summary>An exporter: Prometheus (its /metrics reads the data store's statistics) and the
    /// resources that name it (none, for the exporters; every service, for the OpenTelemetry Collector).</summary>
    public static V1NetworkPolicy ForExporter(string name, IEnumerable<Binding> bindings, IEnumerable<string> clients) =>
        Admitting(name, bindings, [.. clients.Select(App), Monitoring(Policy.Peers.PrometheusPods)]);

    private static V1NetworkPolicy Admitting(string name, IEnumerable<Binding> bindings, List<V1NetworkPolicyPeer> peers) => new()
    {
        Metadata = Meta(name),
        Spec = new V1NetworkPolicySpec
        {
            PodSelector = LabelSelector(name),
            PolicyTypes = ["Ingress"],
            // No peers: no rule at all (an empty "from" would admit everyone).
            Ingress = peers.Count == 0 ? null :
            [
                new V1NetworkPolicyIngressRule
                {
                    FromProperty = peers,
                    Ports = bindings.Select(b => new V1NetworkPolicyPort { Protocol = "TCP", Port = b.Port }).ToList(),
                },
            ],
        },
    };

    /// <summary>The pods of another workload of the app (same namespace).</summary>
    private static V1NetworkPolicyPeer App(string name) => new() { PodSelector = LabelSelector(name) };

    private static V1NetworkPolicyPeer IngressController() => new()
    {
        NamespaceSelector = NamespaceNamed(Policy.Peers.IngressControllerNamespace),
        PodSelector = Policy.Peers.IngressControllerPods.Count == 0 ? null
            : new V1LabelSelector { MatchLabels = new Dictionary<string, string>(Policy.Peers.IngressControllerPods) },
    };

    private static V1NetworkPolicyPeer Monitoring(IReadOnlyDictionary<string, string> pods) => new()
    {
        NamespaceSelector = NamespaceNamed(Policy.Peers.MonitoringNamespace),
        PodSelector = new V1LabelSelector { MatchLabels = new Dictionary<string, string>(pods) },
    };

    /// <summary>Every namespace carries its name as this label (Kubernetes 1.22+).</summary>
    private static V1LabelSelector NamespaceNamed(string name) =>
        new() { MatchLabels = new Dictionary<string, string> { ["kubernetes.io/metadata.name"] = name } };
}
