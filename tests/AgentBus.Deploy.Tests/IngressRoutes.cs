namespace AgentBus.Deploy.Tests;

/// <summary>Which Ingress path of a rendered overlay serves a request, chosen as the Ingress API
/// says and ingress-nginx (which merges every Ingress of a host) does: the longest matching path,
/// Exact before Prefix at equal length; a Prefix path matches whole elements ("/api" serves /api
/// and /api/jobs, not /apis).</summary>
public static class IngressRoutes
{
    public const string Nginx = "nginx.ingress.kubernetes.io/";

    public sealed record Route(V1Ingress Ingress, V1HTTPIngressPath Path)
    {
        public string Service => Path.Backend.Service.Name;

        public string? Annotation(string name) =>
            Ingress.Metadata.Annotations?.TryGetValue(Nginx + name, out var value) == true ? value : null;
    }

    public static IReadOnlyList<V1Ingress> All(IEnumerable<RenderedObject> objects) =>
        objects.Where(o => o.Kind == "Ingress").Select(o => o.As<V1Ingress>()).ToList();

    /// <summary>The route for <paramref name="request"/> (a path, no query) on <paramref name="host"/>, or null.</summary>
    public static Route? Find(IEnumerable<RenderedObject> objects, string host, string request) =>
        (from ingress in All(objects)
         from rule in ingress.Spec.Rules
         where rule.Host == host
         from path in rule.Http.Paths
         where Matches(path, request)
         orderby Elements(path.Path).Length descending, path.PathType == "Exact" descending
         select new Route(ingress, path)).FirstOrDefault();

    private static bool Matches(V1HTTPIngressPath path, string request) => path.PathType switch
    {
        "Exact" => path.Path == request,
        "Prefix" => Elements(request).Take(Elements(path.Path).Length).SequenceEqual(Elements(path.Path)),
        _ => throw new NotSupportedException($"pathType {path.PathType} of {path.Path}: its matching is up to the controller"),
    };

    private static string[] Elements(string path) => path.Split('/', StringSplitOptions.RemoveEmptyEntries);
}
