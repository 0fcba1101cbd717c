using k8s.Models;
using static AgentBus.Deploy.K8sObjects;

namespace AgentBus.Deploy;

/// <summary>The way in from outside: one ingress-nginx Ingress per exposed service, all on one host.
/// The controller merges them into one server, and each keeps its own annotations, so the api's
/// unbuffered event streams and the web's sticky sessions do not leak into each other.</summary>
internal static class Ingresses
{
    private const string Nginx = "nginx.ingress.kubernetes.io/";

    public static V1Ingress Public(string name, IngressPolicy policy, Binding http)
    {
        var annotations = new Dictionary<string, string>();
        if (policy.StreamsEvents)
        {
            // GET /api/jobs/{id}/events is a long-lived server-sent event stream.
            annotations[Nginx + "proxy-buffering"] = "off";
            annotations[Nginx + "proxy-read-timeout"] = "3600";
        }
        if (policy.StickySessions)
        {
            // The cookie brings a browser back to the replica that holds its circuit; "persistent"
            // keeps it there when the HPA adds replicas ("balanced" would move some sessions).
            annotations[Nginx + "affinity"] = "cookie";
            annotations[Nginx + "affinity-mode"] = "persistent";
            annotations[Nginx + "session-cookie-name"] = "agent-bus-affinity";
            annotations[Nginx + "session-cookie-samesite"] = "Lax";
            // A tab's WebSocket stays open as long as the tab.
            annotations[Nginx + "proxy-read-timeout"] = "3600";
            annotations[Nginx + "proxy-send-timeout"] = "3600";
        }
        return Ingress(name, name, annotations, policy.Paths, http);
    }

    /// <summary>True when <paramref name="policy"/> exposes a path that holds /health or /metrics.</summary>
    public static bool ExposesClusterOnlyPaths(IngressPolicy policy) =>
        policy.Paths.Any(p => Policy.ClusterOnlyPaths.Any(c => p == "/" || c == p || c.StartsWith(p + "/", StringComparison.Ordinal)));

    /// <summary>&lt;name&gt;-cluster-only: /health and /metrics answered 403 for every client at the
    /// edge, where a public "/" would reach them (the kubelet and Prometheus reach the pods
    /// directly). A deny list, not a snippet: ingress-nginx turns snippet annotations off by default.</summary>
    public static V1Ingress ClusterOnly(string name, Binding http) => Ingress(name, $"{name}-cluster-only",
        new Dictionary<string, string> { [Nginx + "denylist-source-range"] = "0.0.0.0/0,::/0" }, Policy.ClusterOnlyPaths, http);

    private static V1Ingress Ingress(string service, string name, Dictionary<string, string> annotations, IEnumerable<string> paths, Binding http)
    {
        var metadata = Meta(service, annotations);
        metadata.Name = name;
        return new V1Ingress
        {
            Metadata = metadata,
            Spec = new V1IngressSpec
            {
                IngressClassName = Policy.IngressClass,
                Rules =
                [
                    new V1IngressRule
                    {
                        Host = Policy.IngressHost,
                        Http = new V1HTTPIngressRuleValue
                        {
                            Paths = paths.Select(path => new V1HTTPIngressPath
                            {
                                Path = path,
                                PathType = "Prefix",
                                Backend = new V1IngressBackend
                                {
                                    Service = new V1IngressServiceBackend { Name = service, Port = new V1ServiceBackendPort { Name = http.Name } },
                                },
                            }).ToList(),
                        },
                    },
                ],
            },
        };
    }
}
