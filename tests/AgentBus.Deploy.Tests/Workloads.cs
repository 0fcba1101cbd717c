using System.Text.RegularExpressions;

namespace AgentBus.Deploy.Tests;

/// <summary>Workloads of a rendered overlay and the lookups the checks share.</summary>
public static partial class Workloads
{
    public static readonly HashSet<string> Kinds = ["Deployment", "DaemonSet", "StatefulSet", "Job"];

    public static IEnumerable<(RenderedObject Object, V1PodTemplateSpec Template)> All(IEnumerable<RenderedObject> objects) =>
        objects.Where(o => Kinds.Contains(o.Kind)).Select(o => (o, o.Model switch
        {
            V1Deployment d => d.Spec.Template,
            V1DaemonSet d => d.Spec.Template,
            V1StatefulSet s => s.Spec.Template,
            V1Job j => j.Spec.Template,
            _ => throw new InvalidOperationException(),
        }));

    public static V1PodTemplateSpec Of(IReadOnlyList<RenderedObject> objects, string name) =>
        All(objects).Single(w => w.Object.Name == name && w.Object.Model.Metadata().NamespaceProperty == Policy.Namespace).Template;

    private static V1ObjectMeta Metadata(this object model) => ((IMetadata<V1ObjectMeta>)model).Metadata;

    /// <summary>Whether a matchLabels selector selects these labels (an empty one selects all).</summary>
    public static bool Matches(IDictionary<string, string>? selector, IDictionary<string, string>? labels) =>
        (selector ?? new Dictionary<string, string>()).All(kv => labels?.TryGetValue(kv.Key, out var v) == true && v == kv.Value);

    /// <summary>The port of a rendered Service (the first, where it has several).</summary>
    public static int ServicePort(IReadOnlyList<RenderedObject> objects, string service) =>
        objects.Single(o => o.Kind == "Service" && o.Name == service).As<V1Service>().Spec.Ports.First().Port;

    /// <summary>The port of a rendered Service by the port's name.</summary>
    public static int ServicePort(IReadOnlyList<RenderedObject> objects, string service, string port) =>
        objects.Single(o => o.Kind == "Service" && o.Name == service).As<V1Service>().Spec.Ports.Single(p => p.Name == port).Port;

    /// <summary>The plain settings a container reads from its envFrom ConfigMaps.</summary>
    public static Dictionary<string, string> Settings(IReadOnlyList<RenderedObject> objects, V1Container container) =>
        (container.EnvFrom ?? []).SelectMany(e =>
            (objects.SingleOrDefault(o => o.Kind == "ConfigMap" && o.Name == e.ConfigMapRef.Name)
                ?? throw new InvalidOperationException($"{container.Name}: ConfigMap {e.ConfigMapRef.Name} not rendered"))
            .As<V1ConfigMap>().Data ?? new Dictionary<string, string>())
        .ToDictionary(kv => kv.Key, kv => kv.Value);

    /// <summary>The manifest resources that run as workloads (services and backing containers).</summary>
    public static IEnumerable<(string Name, System.Text.Json.Nodes.JsonObject Resource)> FromManifest(AspireManifest manifest) =>
        manifest.Resources.Where(r => AspireManifest.TypeOf(r.Resource) is "project.v0" or "container.v0");

    public static IEnumerable<string> Projects(AspireManifest manifest) =>
        manifest.Resources.Where(r => AspireManifest.TypeOf(r.Resource) == "project.v0").Select(r => r.Name);

    [GeneratedRegex(@"(?<!\$)\$\(([A-Za-z_][A-Za-z0-9_]*)\)")]
    public static partial Regex EnvReference();
}
