using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace AgentBus.Deploy;

/// <summary>aspire-manifest.json, and how its expressions map onto in-cluster names.</summary>
public sealed partial class AspireManifest
{
    /// <summary>Port a .NET service listens on in its container (the aspnet images' default).</summary>
    public const int ProjectPort = 8080;

    private readonly JsonObject _resources;

    public AspireManifest(JsonObject resources) => _resources = resources;

    public static AspireManifest Load(string path) =>
        new(JsonNode.Parse(File.ReadAllText(path))?["resources"]?.AsObject()
            ?? throw new InvalidDataException($"{path}: no \"resources\" object"));

    /// <summary>Resources in manifest order (the generator's output order follows it).</summary>
    public IEnumerable<(string Name, JsonObject Resource)> Resources =>
        _resources.Select(kv => (kv.Key, kv.Value?.AsObject() ?? throw new InvalidDataException($"resource {kv.Key} is null")));

    public JsonObject this[string name] =>
        _resources[name]?.AsObject() ?? throw new InvalidDataException($"unknown resource '{name}'");

    public static string TypeOf(JsonObject resource) => (string?)resource["type"] ?? "";

    public IEnumerable<string> Parameters => Resources.Where(r => TypeOf(r.Resource) == "parameter.v0").Select(r => r.Name);

    /// <summary>A parameter goes to the Secret when it is marked secret, or when the manifest gives
    /// no value for it (generated passwords, keys the operator must supply).</summary>
    public bool IsSecretParameter(string name) => DefaultValue(name) is null;

    public JsonObject? InputValue(string name) => this[name]["inputs"]?["value"]?.AsObject();

    /// <summary>The literal default of a non-secret parameter, else null.</summary>
    public string? DefaultValue(string name)
    {
        var input = InputValue(name);
        if (input is null || (bool?)input["secret"] == true) return null;
        return (string?)input["default"]?["value"];
    }

    public IReadOnlyList<Binding> Bindings(string name)
    {
        var resource = this[name];
        var isProject = TypeOf(resource) == "project.v0";
        var result = new List<Binding>();
        foreach (var (bindingName, node) in resource["bindings"]?.AsObject() ?? [])
        {
            var scheme = (string?)node?["scheme"] ?? "tcp";
            var target = (int?)node?["targetPort"] ?? (int?)node?["port"];
            // Services speak plain HTTP in the cluster; TLS ends at the Ingress, so https goes.
            if (isProject && scheme == "https" && target is null) continue;
            var port = target ?? (isProject ? ProjectPort
                : throw new InvalidDataException($"{name}.bindings.{bindingName}: no targetPort"));
            if (result.Any(b => b.Port == port))
                throw new InvalidDataException($"{name}: two bindings on port {port}; give one a targetPort");
            result.Add(new Binding(bindingName, scheme, port, (bool?)node?["external"] == true));
        }
        return result;
    }

    /// <summary>A service-discovery variable (services__api__https__0) whose value is the URL of a
    /// binding the cluster does not serve: it goes, as the binding did. The client falls back to
    /// the endpoint that is served ("https+http://api" takes services__api__http__0). Any other
    /// use of such a binding still stops generation.</summary>
    public bool IsUnservedEndpoint(string variable, string template)
    {
        if (EndpointUrl().Match(template) is not { Success: true } m) return false;
        var (name, binding) = (m.Groups[1].Value, m.Groups[2].Value);
        var prefix = $"services__{name}__{binding}__";
        return variable.StartsWith(prefix, StringComparison.Ordinal) && variable[prefix.Length..] is { Length: > 0 } index
            && index.All(char.IsAsciiDigit)
            && this[name]["bindings"]?[binding] is not null
            && Bindings(name).All(b => b.Name != binding);
    }

    [GeneratedRegex(@"^\{([^{}.]+)\.bindings\.([^{}.]+)\.url\}$")]
    private static partial Regex EndpointUrl();

    [GeneratedRegex(@"\{([^{}]+)\}")]
    private static partial Regex Placeholder();

    /// <summary>Resolves every placeholder of <paramref name="template"/>; fails loudly on anything
    /// it does not understand, so a new kind of manifest value cannot slip through unmapped.</summary>
    public Resolved Resolve(string template)
    {
        var parts = new List<Part>();
        var connectionStrings = new List<string>();
        var hosts = new List<string>();
        Expand(template, parts, connectionStrings, hosts, depth: 0);
        // Merge adjacent text so a plain value is one Text part.
        var merged = new List<Part>();
        foreach (var part in parts)
        {
            if (part is Text t && merged.LastOrDefault() is Text last)
                merged[^1] = new Text(last.Value + t.Value);
            else if (part is not Text { Value: "" })
                merged.Add(part);
        }
        return new Resolved(merged, connectionStrings, hosts.Distinct().ToList());
    }

    private void Expand(string template, List<Part> parts, List<string> connectionStrings, List<string> hosts, int depth)
    {
        if (depth > 10) throw new InvalidDataException($"expression nesting too deep: {template}");
        var at = 0;
        foreach (Match m in Placeholder().Matches(template))
        {
            parts.Add(new Text(template[at..m.Index]));
            ExpandExpression(m.Groups[1].Value, parts, connectionStrings, hosts, depth);
            at = m.Index + m.Length;
        }
        parts.Add(new Text(template[at..]));
    }

    private void ExpandExpression(string expression, List<Part> parts, List<string> connectionStrings, List<string> hosts, int depth)
    {
        var path = expression.Split('.');
        var name = path[0];
        var resource = this[name];
        var type = TypeOf(resource);
        switch (path[1..])
        {
            case ["connectionString"]:
                connectionStrings.Add(name);
                Expand((string?)resource["connectionString"]
                    ?? throw new InvalidDataException($"{name} has no connectionString"), parts, connectionStrings, hosts, depth + 1);
                break;
            case ["value"] or ["inputs", "value"] when type == "parameter.v0":
                parts.Add(IsSecretParameter(name) ? new SecretParameter(name) : new Text(DefaultValue(name)!));
                break;
            case ["value"] when resource["value"] is not null:
                Expand((string)resource["value"]!, parts, connectionStrings, hosts, depth + 1);
                break;
            case ["bindings", var bindingName, var property]:
                var binding = Bindings(name).FirstOrDefault(b => b.Name == bindingName)
                    ?? throw new InvalidDataException($"{{{expression}}}: binding '{bindingName}' is not served in the cluster");
                hosts.Add(name);
                parts.Add(new Text(property switch
                {
                    "host" => name, // the Service is named after the resource
                    "port" or "targetPort" => binding.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
                    "scheme" => binding.Scheme,
                    "url" => $"{binding.Scheme}://{name}:{binding.Port}",
                    _ => throw new InvalidDataException($"unsupported expression {{{expression}}}"),
                }));
                break;
            default:
                throw new InvalidDataException($"unsupported expression {{{expression}}}");
        }
    }
}
