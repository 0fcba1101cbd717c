using System.Collections.Concurrent;
using System.Diagnostics;
using System.Reflection;

namespace AgentBus.Deploy.Tests;

/// <summary>The deployment inputs of the repository under test (k8s/, aspire-manifest.json) and `kubectl kustomize` with a per-run cache.</summary>
public static class Repo
{
    public static string K8s => Path.Combine(Repository.Root, "k8s");
    public static string ManifestPath => Path.Combine(Repository.Root, "aspire-manifest.json");
    public static AspireManifest Manifest => AspireManifest.Load(ManifestPath);

    public static readonly TheoryData<string> Overlays = new("dev", "prod");

    private static readonly ConcurrentDictionary<string, Lazy<string>> Rendered = new();

    /// <summary>The YAML of k8s/overlays/&lt;overlay&gt; (rendered once per run).</summary>
    public static string Render(string overlay) =>
        Rendered.GetOrAdd(overlay, o => new Lazy<string>(() => Kustomize(Path.Combine(K8s, "overlays", o)))).Value;

    public static IReadOnlyList<RenderedObject> Objects(string overlay) => RenderedObject.Split(Render(overlay));

    public static string Kustomize(string dir)
    {
        var start = new ProcessStartInfo("kubectl", ["kustomize", dir])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        Process process;
        try { process = Process.Start(start)!; }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException("kubectl is not on PATH (it renders kustomizations offline; install kubectl)", e);
        }
        using (process)
        {
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(TimeSpan.FromMinutes(2))) { process.Kill(); throw new TimeoutException($"kubectl kustomize {dir}"); }
            if (process.ExitCode != 0)
                throw new InvalidOperationException($"kubectl kustomize {dir} failed ({process.ExitCode}):\n{stderr.Result}");
            return stdout.Result;
        }
    }

    /// <summary>Copies a directory tree (for runs that must not touch the working tree).</summary>
    public static void Copy(string from, string to)
    {
        foreach (var dir in Directory.EnumerateDirectories(from, "*", SearchOption.AllDirectories))
            Directory.CreateDirectory(Path.Combine(to, Path.GetRelativePath(from, dir)));
        Directory.CreateDirectory(to);
        foreach (var file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
            File.Copy(file, Path.Combine(to, Path.GetRelativePath(from, file)));
    }

    public static string TempDir()
    {
        var dir = Path.Combine(Path.GetTempPath(), "agentbus-deploy-tests-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        return dir;
    }
}

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

/// <summary>A custom resource's envelope, strict at the top level.</summary>
public sealed class CustomResource : KubernetesObject, IMetadata<V1ObjectMeta>
{
    [System.Text.Json.Serialization.JsonPropertyName("metadata")]
    public V1ObjectMeta Metadata { get; set; } = new();

    [System.Text.Json.Serialization.JsonPropertyName("spec")]
    public object? Spec { get; set; }
}
