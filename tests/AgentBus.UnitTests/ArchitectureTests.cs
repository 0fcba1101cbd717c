using System.Text.Json;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using AgentBus.Data;

namespace AgentBus.UnitTests;

/// <summary>
/// The rules docs/architecture.md states, checked on the source: references point one way, the api
/// links no model SDK, ServiceDefaults knows no project of ours, each advisory lock key is unique.
/// </summary>
public sealed partial class ArchitectureTests
{
    private static readonly string Src = Path.Combine(Repository.Root, "src");

    [Fact]
    public void Namespaces_import_each_other_one_way()
    {
        var graph = NamespaceGraph();
        Assert.True(graph.Count > 10, $"only {graph.Count} namespaces found under {Src}");
        var cycles = graph.Keys.Select(start => FindCycle(graph, start)).OfType<string>().Distinct().ToList();
        Assert.True(cycles.Count == 0, "import loops: " + string.Join("; ", cycles));
    }

    [Fact]
    public void The_cycle_finder_sees_a_loop()
    {
        var graph = new Dictionary<string, HashSet<string>> { ["A"] = ["B"], ["B"] = ["C"], ["C"] = ["A"], ["D"] = ["A"] };
        Assert.Equal("A -> B -> C -> A", FindCycle(graph, "A"));
        Assert.Null(FindCycle(new Dictionary<string, HashSet<string>> { ["A"] = ["B"], ["B"] = [] }, "A"));
    }

    [Fact]
    public void The_api_links_no_model_sdk()
    {
        // project.assets.json lists every package and project the api links, transitive ones included.
        using var assets = JsonDocument.Parse(File.ReadAllText(Path.Combine(Src, "AgentBus.Api", "obj", "project.assets.json")));
        var libraries = assets.RootElement.GetProperty("libraries").EnumerateObject().Select(p => p.Name.Split('/')[0]).ToList();
        Assert.Contains("Npgsql", libraries);
        string[] forbidden = ["Anthropic", "OpenAI", "Microsoft.Extensions.AI", "Microsoft.ML.Tokenizers", "AgentBus.Execution"];
        Assert.DoesNotContain(libraries, l => forbidden.Any(f => l.StartsWith(f, StringComparison.OrdinalIgnoreCase)));
    }

    [Fact]
    public void The_api_clients_link_no_server_side_of_agent_bus()
    {
        // AgentBus.Client is what the web app and the CLI share: a client of the api over HTTP only.
        Assert.Empty(XDocument.Load(Path.Combine(Src, "AgentBus.Client", "AgentBus.Client.csproj")).Descendants("ProjectReference"));
        var cli = XDocument.Load(Path.Combine(Src, "AgentBus.Cli", "AgentBus.Cli.csproj"));
        Assert.Equal([@"..\AgentBus.Client\AgentBus.Client.csproj"], cli.Descendants("ProjectReference").Select(r => (string?)r.Attribute("Include")));
        using var assets = JsonDocument.Parse(File.ReadAllText(Path.Combine(Src, "AgentBus.Cli", "obj", "project.assets.json")));
        var libraries = assets.RootElement.GetProperty("libraries").EnumerateObject().Select(p => p.Name.Split('/')[0]).ToList();
        Assert.Contains("AgentBus.Client", libraries);
        string[] forbidden = ["AgentBus.Jobs", "AgentBus.Execution", "AgentBus.ServiceDefaults", "Npgsql", "StackExchange.Redis", "Microsoft.AspNetCore"];
        Assert.DoesNotContain(libraries, l => forbidden.Any(f => l.StartsWith(f, StringComparison.OrdinalIgnoreCase)));
        Assert.DoesNotContain("Microsoft.AspNetCore.App", assets.RootElement.GetProperty("project").GetRawText(), StringComparison.Ordinal);
    }

    [Fact]
    public void ServiceDefaults_references_no_project_of_the_solution()
    {
        var project = XDocument.Load(Path.Combine(Src, "AgentBus.ServiceDefaults", "AgentBus.ServiceDefaults.csproj"));
        Assert.Empty(project.Descendants("ProjectReference"));
        var code = Directory.GetFiles(Path.Combine(Src, "AgentBus.ServiceDefaults"), "*.cs").Select(File.ReadAllText);
        Assert.DoesNotContain(code, c => AgentBusUsing().IsMatch(c));
    }

    [Fact]
    public void Every_advisory_lock_key_is_defined_once()
    {
        var keys = typeof(AdvisoryLocks).GetFields().Where(f => f.IsLiteral).ToDictionary(f => f.Name, f => (long)f.GetRawConstantValue()!);
        Assert.True(keys.Count >= 2, "AdvisoryLocks defines the keys of the migrator and the reconciler");
        Assert.Equal(keys.Count, keys.Values.Distinct().Count());
        // Every advisory lock taken in src names its key from AdvisoryLocks, never a literal.
        var takers = SourceFiles().Where(f => File.ReadAllText(f).Contains("pg_advisory", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(takers);
        Assert.All(takers, f => Assert.Contains("AdvisoryLocks.", File.ReadAllText(f), StringComparison.Ordinal));
    }

    [Fact]
    public void No_source_file_is_over_400_lines()
    {
        var files = SourceFiles().Concat(Directory.GetFiles(Path.Combine(Repository.Root, "tools"), "*.cs", SearchOption.AllDirectories).Where(IsSource));
        var tooLong = files.Select(f => (File: Path.GetRelativePath(Repository.Root, f), Lines: File.ReadLines(f).Count())).Where(f => f.Lines > 400).ToList();
        Assert.True(tooLong.Count == 0, "over 400 lines: " + string.Join(", ", tooLong));
    }

    /// <summary>Each namespace under src and the AgentBus namespaces its files import (using, or a qualified name).</summary>
    private static Dictionary<string, HashSet<string>> NamespaceGraph()
    {
        var files = SourceFiles().Select(f => (Code: File.ReadAllText(f), Namespace: NamespaceLine().Match(File.ReadAllText(f)).Groups[1].Value))
            .Where(f => f.Namespace.Length > 0).ToList();
        var known = files.Select(f => f.Namespace).ToHashSet();
        var types = files.GroupBy(f => f.Namespace).ToDictionary(g => g.Key, g => g.SelectMany(f => TypeDeclaration().Matches(f.Code).Select(m => m.Groups[1].Value)).ToHashSet());
        var graph = known.ToDictionary(n => n, _ => new HashSet<string>());
        foreach (var (code, ns) in files)
        {
            // Qualified names count as imports too: AgentBus.Routing.JobRouter, or Routing.JobRouter
            // resolved against the enclosing namespaces as the compiler does, when what follows the
            // namespace is one of its types (Agents.GetValueOrDefault is a property, not a namespace).
            var body = StringOrComment().Replace(NamespaceOrUsingLine().Replace(code, ""), "");
            var enclosing = Enumerable.Range(1, ns.Count(c => c == '.') + 1).Select(n => string.Join('.', ns.Split('.').Take(n)) + ".").Prepend("");
            var qualified = QualifiedName().Matches(body).Select(m => m.Value.Split('.')).SelectMany(parts =>
                enclosing.SelectMany(prefix => Enumerable.Range(1, parts.Length - 1)
                    .Select(k => (Namespace: prefix + string.Join('.', parts.Take(k)), Type: parts[k])))
                .Where(c => types.TryGetValue(c.Namespace, out var declared) && declared.Contains(c.Type))
                .Select(c => c.Namespace));
            graph[ns].UnionWith(AgentBusUsing().Matches(code).Select(m => m.Groups[1].Value).Concat(qualified).Where(i => i != ns && known.Contains(i)));
        }
        return graph;
    }

    /// <summary>A loop through <paramref name="start"/> as "A -> B -> A", or null.</summary>
    private static string? FindCycle(IReadOnlyDictionary<string, HashSet<string>> graph, string start)
    {
        var path = new List<string> { start };
        string? Walk(string at, HashSet<string> seen)
        {
            foreach (var next in graph.GetValueOrDefault(at, []).Order(StringComparer.Ordinal))
            {
                if (next == start)
                {
                    return string.Join(" -> ", path.Append(start));
                }
                if (seen.Add(next))
                {
                    path.Add(next);
                    if (Walk(next, seen) is { } found)
                    {
                        return found;
                    }
                    path.RemoveAt(path.Count - 1);
                }
            }
            return null;
        }
        return Walk(start, [start]);
    }

    private static IEnumerable<string> SourceFiles() =>
        Directory.GetFiles(Src, "*.cs", SearchOption.AllDirectories).Where(IsSource);

    private static bool IsSource(string path) =>
        !path.Split(Path.DirectorySeparatorChar).Any(part => part is "bin" or "obj");

    [GeneratedRegex(@"^namespace ([\w.]+);", RegexOptions.Multiline)]
    private static partial Regex NamespaceLine();

    [GeneratedRegex(@"^(namespace|using) .*$", RegexOptions.Multiline)]
    private static partial Regex NamespaceOrUsingLine();

    [GeneratedRegex(@"^using (AgentBus[\w.]*);", RegexOptions.Multiline)]
    private static partial Regex AgentBusUsing();

    [GeneratedRegex(@"\b(?:class|record|interface|enum|struct) ([A-Z]\w*)")]
    private static partial Regex TypeDeclaration();

    [GeneratedRegex(@"\b[A-Z]\w*(?:\.[A-Z]\w*)+")]
    private static partial Regex QualifiedName();

    [GeneratedRegex(@"//.*$|""(?:[^""\\\n]|\\.)*""", RegexOptions.Multiline)]
    private static partial Regex StringOrComment();
}
