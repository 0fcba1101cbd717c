namespace AgentBus.Deploy.Tests;

/// <summary>How requests reach the services: from outside through the Ingresses of one host, inside
/// the cluster as the NetworkPolicies allow.</summary>
public class TrafficTests
{
    [Theory]
    [MemberData(nameof(Repo.Overlays), MemberType = typeof(Repo))]
    public void The_ingress_sends_the_pages_to_web_and_the_api_its_docs_and_openapi_to_api(string overlay)
    {
        var objects = Repo.Objects(overlay);
        foreach (var (request, service) in new[]
        {
            ("/", "web"), ("/jobs/5f0c7d8e-1a2b-4c3d-8e9f-0a1b2c3d4e5f", "web"), ("/_blazor", "web"), ("/signin", "web"),
            ("/api", "api"), ("/api/jobs", "api"), ("/api/jobs/5f0c7d8e-1a2b-4c3d-8e9f-0a1b2c3d4e5f/events", "api"),
            ("/docs", "api"), ("/docs/scalar.js", "api"), ("/openapi/v1.json", "api"),
        })
        {
            var route = IngressRoutes.Find(objects, Host(objects), request);
            Assert.True(route?.Service == service, $"{overlay}: {request} goes to {route?.Service ?? "nothing"}, not {service}");
            Assert.Equal("http", route!.Path.Backend.Service.Port.Name);
            Assert.Equal(Policy.IngressClass, route.Ingress.Spec.IngressClassName);
        }
    }

    [Theory]
    [MemberData(nameof(Repo.Overlays), MemberType = typeof(Repo))]
    public void A_browser_stays_on_the_web_replica_that_holds_its_circuit(string overlay)
    {
        var objects = Repo.Objects(overlay);
        var circuit = IngressRoutes.Find(objects, Host(objects), "/_blazor")!;
        Assert.Equal("web", circuit.Service);
        Assert.Equal("cookie", circuit.Annotation("affinity"));
        Assert.Equal("persistent", circuit.Annotation("affinity-mode"));
        Assert.False(string.IsNullOrEmpty(circuit.Annotation("session-cookie-name")));
        Assert.Equal("3600", circuit.Annotation("proxy-read-timeout")); // the WebSocket lives as long as the tab

        // The api's Ingress keeps its own settings: no affinity, unbuffered event streams.
        var events = IngressRoutes.Find(objects, Host(objects), "/api/jobs/5f0c7d8e-1a2b-4c3d-8e9f-0a1b2c3d4e5f/events")!;
        Assert.Null(events.Annotation("affinity"));
        Assert.Equal("off", events.Annotation("proxy-buffering"));
    }

    [Theory]
    [MemberData(nameof(Repo.Overlays), MemberType = typeof(Repo))]
    public void Health_and_metrics_stay_inside_the_cluster(string overlay)
    {
        var objects = Repo.Objects(overlay);
        foreach (var request in new[] { "/health", "/health/ready", "/metrics" })
        {
            // Not routed at all, or denied to every client address.
            var route = IngressRoutes.Find(objects, Host(objects), request);
            var denied = route?.Annotation("denylist-source-range")?.Split(',') ?? [];
            Assert.True(route is null || (denied.Contains("0.0.0.0/0") && denied.Contains("::/0")),
                $"{overlay}: {request} reaches {route?.Service} through Ingress {route?.Ingress.Metadata.Name}");
        }
    }

    [Fact]
    public void Prod_serves_every_ingress_over_tls()
    {
        var objects = Repo.Objects("prod");
        foreach (var ingress in IngressRoutes.All(objects))
        {
            var tls = Assert.Single(ingress.Spec.Tls ?? []);
            Assert.Equal([Host(objects)], tls.Hosts);
            Assert.Equal("agent-bus-tls", tls.SecretName);
            Assert.Equal("true", ingress.Metadata.Annotations[IngressRoutes.Nginx + "force-ssl-redirect"]);
        }
    }

    [Theory]
    [MemberData(nameof(Repo.Overlays), MemberType = typeof(Repo))]
    public void The_web_may_reach_the_api_and_redis_and_the_ingress_controller_the_web_and_api(string overlay)
    {
        var objects = Repo.Objects(overlay);
        NetworkPolicies.Pod Pod(string name) => new(Policy.Namespace, Workloads.Of(objects, name).Metadata.Labels);
        var controller = new NetworkPolicies.Pod("ingress-nginx", new Dictionary<string, string>
        {
            ["app.kubernetes.io/name"] = "ingress-nginx",
            ["app.kubernetes.io/component"] = "controller",
        });
        foreach (var (from, to, what) in new[] { (Pod("web"), "api", "web to api"), (Pod("web"), "redis", "web to redis"),
                     (controller, "web", "ingress controller to web"), (controller, "api", "ingress controller to api") })
            Assert.True(NetworkPolicies.Allow(objects, from, Pod(to), Workloads.ServicePort(objects, to)), $"{overlay}: {what} is blocked");
        // The policies are read, not waved through: redis admits only the app's pods and monitoring.
        Assert.False(NetworkPolicies.Allow(objects, controller, Pod("redis"), Workloads.ServicePort(objects, "redis")));
    }

    /// <summary>The one host every Ingress of the overlay serves (the overlays set it on all of them).</summary>
    private static string Host(IReadOnlyList<RenderedObject> objects) =>
        Assert.Single(IngressRoutes.All(objects).SelectMany(i => i.Spec.Rules).Select(r => r.Host).Distinct());
}
