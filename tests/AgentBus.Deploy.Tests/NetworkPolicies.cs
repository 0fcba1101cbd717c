namespace AgentBus.Deploy.Tests;

/// <summary>Whether the NetworkPolicies of a rendered overlay let one pod open a connection to
/// another, read as Kubernetes reads them: a direction no policy selects the pod for is open; once
/// selected, the connection needs a rule of one of the selecting policies that admits it.</summary>
public static class NetworkPolicies
{
    /// <summary>A pod as the policies see it: its namespace and labels.</summary>
    public sealed record Pod(string Namespace, IDictionary<string, string> Labels);

    public static bool Allow(IReadOnlyList<RenderedObject> objects, Pod from, Pod to, int port)
    {
        var policies = objects.Where(o => o.Kind == "NetworkPolicy").Select(o => o.As<V1NetworkPolicy>()).ToList();
        var egress = policies.Where(p => Applies(p, from, "Egress")).ToList();
        var ingress = policies.Where(p => Applies(p, to, "Ingress")).ToList();
        return (egress.Count == 0 || egress.Any(p => (p.Spec.Egress ?? []).Any(r => Admits(objects, p, r.To, r.Ports, to, port))))
            && (ingress.Count == 0 || ingress.Any(p => (p.Spec.Ingress ?? []).Any(r => Admits(objects, p, r.FromProperty, r.Ports, from, port))));
    }

    /// <summary>policyTypes, when left out, is Ingress, plus Egress when the policy has egress rules.</summary>
    private static bool Applies(V1NetworkPolicy policy, Pod pod, string direction) =>
        policy.Metadata.NamespaceProperty == pod.Namespace
        && Selects(policy.Spec.PodSelector, pod.Labels)
        && (policy.Spec.PolicyTypes ?? (policy.Spec.Egress is null ? ["Ingress"] : ["Ingress", "Egress"])).Contains(direction);

    private static bool Admits(IReadOnlyList<RenderedObject> objects, V1NetworkPolicy policy,
        IList<V1NetworkPolicyPeer>? peers, IList<V1NetworkPolicyPort>? ports, Pod pod, int port) =>
        (peers is not { Count: > 0 } || peers.Any(peer => Peer(objects, policy, peer, pod)))
        && (ports is not { Count: > 0 } || ports.Any(p => p.Port is null || Covers(p, port)));

    /// <summary>A podSelector alone means the policy's namespace; a namespaceSelector picks others.</summary>
    private static bool Peer(IReadOnlyList<RenderedObject> objects, V1NetworkPolicy policy, V1NetworkPolicyPeer peer, Pod pod) =>
        peer.IpBlock is null
        && (peer.NamespaceSelector is { } namespaces ? Selects(namespaces, NamespaceLabels(objects, pod.Namespace))
            : pod.Namespace == policy.Metadata.NamespaceProperty)
        && (peer.PodSelector is null || Selects(peer.PodSelector, pod.Labels));

    private static bool Covers(V1NetworkPolicyPort rule, int port) =>
        int.TryParse(rule.Port.Value, out var first)
            ? port >= first && port <= (rule.EndPort ?? first)
            : throw new NotSupportedException($"named port {rule.Port.Value}: resolve it against the pod's container ports");

    /// <summary>The rendered Namespace's labels, and the name label every namespace carries.</summary>
    private static Dictionary<string, string> NamespaceLabels(IReadOnlyList<RenderedObject> objects, string name)
    {
        var rendered = objects.SingleOrDefault(o => o.Kind == "Namespace" && o.Name == name)?.As<V1Namespace>().Metadata.Labels;
        return new Dictionary<string, string>(rendered ?? new Dictionary<string, string>()) { ["kubernetes.io/metadata.name"] = name };
    }

    private static bool Selects(V1LabelSelector selector, IDictionary<string, string> labels) =>
        selector.MatchExpressions is not { Count: > 0 }
            ? Workloads.Matches(selector.MatchLabels, labels)
            : throw new NotSupportedException("matchExpressions in a NetworkPolicy selector");
}
