using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using k8s.Models;

namespace AgentBus.Deploy;

/// <summary>The environment of one container, split the way a cluster admin expects: plain
/// settings in the ConfigMap, secret parameters as secretKeyRefs, and values that embed a secret
/// (connection strings) composed in-cluster by $(VAR) interpolation, so no credential is ever
/// written into a ConfigMap or a pod spec.</summary>
public sealed partial class ContainerEnv
{
    private readonly Dictionary<string, string> _envNameOfSecret = [];
    private readonly HashSet<string> _manifestNames;

    /// <summary>secretKeyRef variables; first, because $(VAR) only sees variables defined before it.</summary>
    public List<V1EnvVar> SecretVars { get; } = [];
    /// <summary>Values composed in the pod spec (they reference SecretVars or a connection string).</summary>
    public List<V1EnvVar> ComposedVars { get; } = [];
    /// <summary>Plain settings: KEY=value literals of the <c>&lt;name&gt;-env</c> configMapGenerator.</summary>
    public List<string> ConfigMapLiterals { get; } = [];
    /// <summary>Variables whose whole value is one connection string of a resource served by an
    /// in-cluster data store: (variable, connection string name). The managed-data component
    /// points exactly these at a Secret instead.</summary>
    public List<(string Variable, string ConnectionString)> DataStoreConnections { get; } = [];
    /// <summary>Which secret variable each composed value uses (to drop unused ones when managed).</summary>
    public Dictionary<string, IReadOnlyList<string>> SecretVarsUsedBy { get; } = [];

    public ContainerEnv(AspireManifest manifest, JsonObject? env, ISet<string> dataStores)
    {
        var entries = (env ?? []).Select(kv => (Name: kv.Key, Template: (string?)kv.Value ?? ""))
            .Where(e => !manifest.IsUnservedEndpoint(e.Name, e.Template)).ToList();
        _manifestNames = entries.Select(e => e.Name).ToHashSet();

        // A manifest variable that is exactly one secret parameter is that parameter's variable.
        foreach (var (name, template) in entries)
            if (manifest.Resolve(template) is { FromConnectionString: false, Parts: [SecretParameter s] })
                AddSecretVar(name, s.Name);

        foreach (var (name, template) in entries)
        {
            var resolved = manifest.Resolve(template);
            if (resolved is { FromConnectionString: false, Parts: [SecretParameter] })
                continue;
            if (resolved.IsPlain && !resolved.FromConnectionString)
            {
                ConfigMapLiterals.Add($"{name}={resolved.PlainText}");
                continue;
            }
            ComposedVars.Add(new V1EnvVar { Name = name, Value = Interpolate(resolved) });
            SecretVarsUsedBy[name] = resolved.Secrets.Select(SecretVar).ToList();
            if (WholeConnectionString().Match(template) is { Success: true } m
                && resolved.Hosts.Any(dataStores.Contains))
                DataStoreConnections.Add((name, m.Groups[1].Value));
        }
    }

    [GeneratedRegex(@"^\{([^{}.]+)\.connectionString\}$")]
    private static partial Regex WholeConnectionString();

    /// <summary>Text with each secret parameter as $(VAR); a literal "$(" is escaped as "$$(".</summary>
    public string Interpolate(Resolved resolved) => string.Concat(resolved.Parts.Select(p => p switch
    {
        Text t => t.Value.Replace("$(", "$$(", StringComparison.Ordinal),
        SecretParameter s => $"$({SecretVar(s.Name)})",
        _ => throw new InvalidOperationException(),
    }));

    /// <summary>The variable holding a secret parameter, added on first use.</summary>
    public string SecretVar(string parameter)
    {
        if (_envNameOfSecret.TryGetValue(parameter, out var name)) return name;
        name = EnvName().Replace(parameter, "_").ToUpperInvariant();
        if (_manifestNames.Contains(name) || SecretVars.Any(v => v.Name == name))
            throw new InvalidDataException($"variable {name} for secret parameter {parameter} clashes with another variable");
        AddSecretVar(name, parameter);
        return name;
    }

    private void AddSecretVar(string name, string parameter)
    {
        _envNameOfSecret.TryAdd(parameter, name);
        SecretVars.Add(new V1EnvVar
        {
            Name = name,
            ValueFrom = new V1EnvVarSource { SecretKeyRef = new V1SecretKeySelector { Name = Policy.SecretName, Key = parameter } },
        });
    }

    [GeneratedRegex("[^A-Za-z0-9_]")]
    private static partial Regex EnvName();
}
