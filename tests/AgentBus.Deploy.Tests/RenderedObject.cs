using System.Reflection;

namespace AgentBus.Deploy.Tests;

/// <summary>One document of rendered YAML, deserialized strictly into the KubernetesClient model
/// registered for its apiVersion and kind.</summary>
public sealed record RenderedObject(string Yaml, string ApiVersion, string Kind, string Name, object Model)
{
    /// <summary>Custom resources KubernetesClient has no model for: checked strictly down to their
    /// top-level fields (apiVersion, kind, metadata, spec); their spec is checked elsewhere
    /// (promtool, in the monitoring checks).</summary>
    public static readonly HashSet<string> CustomResourceGroups = ["monitoring.coreos.com"];

    private static readonly Dictionary<string, Type> Models = typeof(V1Pod).Assembly.GetTypes()
        .Select(t => (Type: t, Entity: t.GetCustomAttribute<KubernetesEntityAttribute>()))
        .Where(x => x.Entity is not null && !x.Type.Name.EndsWith("List", StringComparison.Ordinal))
        .GroupBy(x => Key(x.Entity!.Group, x.Entity.ApiVersion, x.Entity.Kind))
        .ToDictionary(g => g.Key, g => g.First().Type);

    private static string Key(string group, string version, string kind) =>
        $"{(string.IsNullOrEmpty(group) ? version : $"{group}/{version}")}/{kind}";

    public static IReadOnlyList<RenderedObject> Split(string yaml) =>
        yaml.Split("\n---\n").Where(d => !string.IsNullOrWhiteSpace(d)).Select(Parse).ToList();

    /// <summary>Strict: a field the model does not have (a misspelt or invented one) throws.</summary>
    public static RenderedObject Parse(string document)
    {
        var header = KubernetesYaml.Deserialize<KubernetesObject>(document); // lenient: only apiVersion/kind
        var group = header.ApiVersion.Contains('/') ? header.ApiVersion.Split('/')[0] : "";
        Type type;
        if (Models.TryGetValue($"{header.ApiVersion}/{header.Kind}", out var model)) type = model;
        else if (CustomResourceGroups.Contains(group)) type = typeof(CustomResource);
        else throw new InvalidDataException($"no KubernetesClient model for {header.ApiVersion} {header.Kind}");
        var typed = Deserialize(document, type);
        var name = ((IMetadata<V1ObjectMeta>)typed).Metadata?.Name ?? throw new InvalidDataException($"{header.Kind} without a name");
        return new RenderedObject(document, header.ApiVersion, header.Kind, name, typed);
    }

    public static object Deserialize(string document, Type type)
    {
        var method = typeof(KubernetesYaml).GetMethod(nameof(KubernetesYaml.Deserialize), [typeof(string), typeof(bool)])!
            .MakeGenericMethod(type);
        try { return method.Invoke(null, [document, true])!; }
        catch (TargetInvocationException e) { throw e.InnerException!; }
    }

    public T As<T>() => (T)Model;
}
