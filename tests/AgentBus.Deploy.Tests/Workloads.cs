using System.Text.RegularExpressions;

namespace AgentBus.Deploy.Tests;

/// <summary>Workloads of a rendered overlay and the lookups the checks share.</summary>
public static partial class Workloads
{
    public static readonly HashSet<string> Kinds = ["Deployment", "DaemonSet", "StatefulSet"];

    public static IEnumerable<(RenderedObject Object, V1PodTemplateSpec Template)> All(IEnumerable<RenderedObject> objects) =>
        objects.Where(o => Kinds.Contains(o.Kind)).Select(o => (o, o.Model switch
        {
            V1Deployment d => d.Spec.Template,
            V1DaemonSet d => d.Spec.Template,
            V1StatefulSet s => s.Spec.Template,
            _ => throw new InvalidOperationException(),
        }));

    public static V1PodTemplateSpec Of(IReadOnlyList<RenderedObject> objects, string name) =>
        All(objects).Single(w => w.Object.Name == name && w.Object.Model.Metadata().NamespaceProperty == Policy.Namespace).Template;

    private static V1ObjectMeta Metadata(this object model) => ((IMetadata<V1ObjectMeta>)model).Metadata;

    /// <summary>The manifest resources that run as workloads (services and backing containers).</summary>
    public static IEnumerable<(string Name, System.Text.Json.Nodes.JsonObject Resource)> FromManifest(AspireManifest manifest) =>
        manifest.Resources.Where(r => AspireManifest.TypeOf(r.Resource) is "project.v0" or "container.v0");

    public static IEnumerable<string> Projects(AspireManifest manifest) =>
        manifest.Resources.Where(r => AspireManifest.TypeOf(r.Resource) == "project.v0").Select(r => r.Name);

    [GeneratedRegex(@"(?<!\$)\$\(([A-Za-z_][A-Za-z0-9_]*)\)")]
    public static partial Regex EnvReference();
}
