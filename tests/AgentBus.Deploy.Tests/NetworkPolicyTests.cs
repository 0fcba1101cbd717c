namespace AgentBus.Deploy.Tests;

/// <summary>Who may open a connection to which pod of namespace agent-bus, as the rendered
/// NetworkPolicies say (docs/security.md, "Network policies").</summary>
public class NetworkPolicyTests
{
    private static readonly NetworkPolicies.Pod IngressController = new("ingress-nginx", new Dictionary<string, string>
    {
        ["app.kubernetes.io/name"] = "ingress-nginx",
        ["app.kubernetes.io/component"] = "controller",
    });

    // The labels kube-prometheus-stack (release "prometheus") gives its Prometheus and Grafana pods.
    private static readonly NetworkPolicies.Pod Prometheus = new("monitoring", new Dictionary<string, string>
    {
        ["app.kubernetes.io/name"] = "prometheus",
        ["app.kubernetes.io/instance"] = "prometheus-kube-prometheus-prometheus",
        ["app.kubernetes.io/managed-by"] = "prometheus-operator",
        ["prometheus"] = "prometheus-kube-prometheus-prometheus",
    });

    private static readonly NetworkPolicies.Pod Grafana = new("monitoring", new Dictionary<string, string>
    {
        ["app.kubernetes.io/name"] = "grafana",
        ["app.kubernetes.io/instance"] = "prometheus",
    });

    /// <summary>Pods no policy names: another pod of the monitoring namespace, a pod of the app's
    /// namespace that even carries the app's part-of label, and a pod of some other namespace.</summary>
    private static readonly (string Name, NetworkPolicies.Pod Pod)[] Strangers =
    [
        ("alertmanager", new("monitoring", new Dictionary<string, string> { ["app.kubernetes.io/name"] = "alertmanager" })),
        ("a debug pod in agent-bus", new(Policy.Namespace, new Dictionary<string, string>
        {
            ["app.kubernetes.io/name"] = "debug",
            ["app.kubernetes.io/part-of"] = Policy.PartOf,
        })),
        ("a pod in namespace default", new("default", new Dictionary<string, string> { ["app"] = "curl" })),
    ];

    /// <summary>Every workload, and exactly who may reach it on its service port.</summary>
    public static readonly Dictionary<string, string[]> Admitted = new()
    {
        ["api"] = ["ingress controller", "prometheus", "web"],
        ["web"] = ["ingress controller", "prometheus"],
        ["worker"] = ["prometheus"],
        ["gpu-agent"] = ["prometheus"],
        ["postgres"] = ["api", "worker", "gpu-agent", "grafana", "postgres-exporter"],
        ["redis"] = ["api", "worker", "gpu-agent", "web", "redis-exporter"],
        ["postgres-exporter"] = ["prometheus"],
        ["redis-exporter"] = ["prometheus"],
        ["otel-collector"] = ["api", "worker", "gpu-agent", "web", "prometheus"],
    };

    [Theory]
    [MemberData(nameof(Repo.Overlays), MemberType = typeof(Repo))]
    public void Ingress_is_denied_by_default_in_the_namespace(string overlay)
    {
        var objects = Repo.Objects(overlay);
        var policies = Policies(objects);
        Assert.Contains(policies, p => p.Metadata.NamespaceProperty == Policy.Namespace
            && p.Spec.PodSelector.MatchLabels is not { Count: > 0 } && p.Spec.PodSelector.MatchExpressions is not { Count: > 0 }
            && p.Spec.PolicyTypes?.Contains("Ingress") == true && p.Spec.Ingress is not { Count: > 0 });

        // A pod of the namespace that no workload policy selects admits nobody, not even the app's pods.
        var unnamed = new NetworkPolicies.Pod(Policy.Namespace, new Dictionary<string, string> { ["app.kubernetes.io/name"] = "something-new" });
        foreach (var from in new[] { Pod(objects, "api"), Pod(objects, "web"), IngressController, Prometheus })
            Assert.False(NetworkPolicies.Allow(objects, from, unnamed, 8080), $"{overlay}: an unlisted pod is reachable");
    }

    [Theory]
    [MemberData(nameof(Repo.Overlays), MemberType = typeof(Repo))]
    public void Every_workload_has_its_own_policy_that_selects_its_pods_and_no_others(string overlay)
    {
        var objects = Repo.Objects(overlay);
        var policies = Policies(objects);
        // The migrations Job accepts no connections: the default deny is its policy.
        var templates = Workloads.All(objects).Where(w => w.Object.Kind != "Job").ToDictionary(w => w.Object.Name, w => w.Template.Metadata.Labels);
        Assert.Equal(Admitted.Keys.Order(StringComparer.Ordinal), templates.Keys.Order(StringComparer.Ordinal));
        foreach (var (name, labels) in templates)
        {
            var policy = policies.SingleOrDefault(p => p.Metadata.Name == name);
            Assert.NotNull(policy);
            Assert.Equal(Policy.Namespace, policy.Metadata.NamespaceProperty);
            Assert.Contains("Ingress", policy.Spec.PolicyTypes);
            Assert.True(Workloads.Matches(policy.Spec.PodSelector.MatchLabels, labels), $"{overlay}: policy {name} does not select its pods");
            foreach (var (other, otherLabels) in templates.Where(t => t.Key != name))
                Assert.False(Workloads.Matches(policy.Spec.PodSelector.MatchLabels, otherLabels), $"{overlay}: policy {name} selects {other}");
            // Nothing admitted by address: an ipBlock would let in whatever sits in its range.
            Assert.DoesNotContain(policy.Spec.Ingress ?? [], r => (r.FromProperty ?? []).Any(p => p.IpBlock is not null));
        }
    }

    [Theory]
    [MemberData(nameof(Repo.Overlays), MemberType = typeof(Repo))]
    public void Each_workload_is_reachable_from_exactly_the_peers_it_serves(string overlay)
    {
        var objects = Repo.Objects(overlay);
        var peers = new Dictionary<string, NetworkPolicies.Pod>
        {
            ["ingress controller"] = IngressController,
            ["prometheus"] = Prometheus,
            ["grafana"] = Grafana,
        };
        foreach (var name in Admitted.Keys) peers[name] = Pod(objects, name);
        foreach (var (name, pod) in Strangers) peers[name] = pod;

        var wrong = new List<string>();
        foreach (var (target, admitted) in Admitted)
        {
            var port = Workloads.ServicePort(objects, target);
            foreach (var (peer, from) in peers.Where(p => p.Key != target))
            {
                var allowed = NetworkPolicies.Allow(objects, from, Pod(objects, target), port);
                if (allowed != admitted.Contains(peer))
                    wrong.Add($"{peer} -> {target}:{port} is {(allowed ? "allowed" : "blocked")}");
            }
        }
        Assert.True(wrong.Count == 0, $"{overlay}:\n" + string.Join("\n", wrong));
    }

    private static readonly System.Net.IPNetwork[] PrivateRanges =
        [.. new[] { "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7" }.Select(r => System.Net.IPNetwork.Parse(r))];

    [Theory]
    [MemberData(nameof(Repo.Overlays), MemberType = typeof(Repo))]
    public void The_api_believes_X_Forwarded_For_only_from_private_networks_and_only_the_ingress_controller_the_web_and_Prometheus_can_send_it(string overlay)
    {
        // The per-address rate limit keys on the forwarded client address: the api believes the header
        // only from the ingress controller's networks (AgentBus:ForwardedHeaders), and the network policy
        // keeps every other peer away from its port.
        var objects = Repo.Objects(overlay);
        foreach (var service in new[] { "api", "web" })
        {
            var container = Workloads.Of(objects, service).Spec.Containers.Single(c => c.Name == service);
            var settings = Workloads.Settings(objects, container);
            Assert.Equal("true", settings["ASPNETCORE_FORWARDEDHEADERS_ENABLED"]);
            Assert.True(settings.TryGetValue(Policy.TrustedProxyNetworksSetting, out var networks), $"{overlay}: {service} names no trusted proxy networks");
            foreach (var network in networks.Split(','))
            {
                // Private ranges only: a public or catch-all range would believe clients' own headers.
                var parsed = System.Net.IPNetwork.Parse(network);
                Assert.True(PrivateRanges.Any(r => r.Contains(parsed.BaseAddress) && parsed.PrefixLength >= r.PrefixLength),
                    $"{overlay}: {service} believes X-Forwarded-For from {network}");
            }
        }

        var policy = Policies(objects).SingleOrDefault(p => p.Metadata.Name == "api");
        Assert.NotNull(policy);
        var rule = Assert.Single(policy.Spec.Ingress);
        Assert.Equal(new List<int> { Workloads.ServicePort(objects, "api") },
            rule.Ports.Select(p => int.Parse(p.Port.Value, System.Globalization.CultureInfo.InvariantCulture)).ToList());
        var ingressNamespace = Assert.Single(rule.FromProperty, p => p.NamespaceSelector?.MatchLabels?.ContainsKey("kubernetes.io/metadata.name") == true
            && p.NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"] == Policy.Peers.IngressControllerNamespace);
        Assert.Null(ingressNamespace.IpBlock);
        foreach (var (name, stranger) in Strangers)
            Assert.False(NetworkPolicies.Allow(objects, stranger, Pod(objects, "api"), Workloads.ServicePort(objects, "api")), $"{overlay}: {name} reaches the api");
    }

    private static List<V1NetworkPolicy> Policies(IReadOnlyList<RenderedObject> objects) =>
        objects.Where(o => o.Kind == "NetworkPolicy").Select(o => o.As<V1NetworkPolicy>()).ToList();

    private static NetworkPolicies.Pod Pod(IReadOnlyList<RenderedObject> objects, string name) =>
        new(Policy.Namespace, Workloads.Of(objects, name).Metadata.Labels);
}
