using System.Globalization;
using System.Text.RegularExpressions;

namespace AgentBus.IntegrationTests.Infrastructure;

/// <summary>A strict reader of the Prometheus text exposition format (0.0.4): fails on any line it cannot read.</summary>
public sealed partial class PrometheusText
{
    private PrometheusText(List<Sample> samples, Dictionary<string, string> types) => (Samples, Types) = (samples, types);

    public IReadOnlyList<Sample> Samples { get; }
    public IReadOnlyDictionary<string, string> Types { get; }

    public sealed record Sample(string Name, IReadOnlyDictionary<string, string> Labels, double Value);

    public static PrometheusText Parse(string text)
    {
        var samples = new List<Sample>();
        var types = new Dictionary<string, string>();
        foreach (var (line, number) in text.Split('\n').Select((l, i) => (l, i + 1)))
        {
            if (line.Length == 0 || line.StartsWith("# HELP ", StringComparison.Ordinal) || line == "# EOF")
            {
                continue;
            }
            if (line.StartsWith("# TYPE ", StringComparison.Ordinal))
            {
                var parts = line.Split(' ');
                if (parts.Length != 4 || parts[3] is not ("counter" or "gauge" or "histogram" or "summary" or "untyped"))
                {
                    throw new FormatException($"line {number}: bad TYPE line: {line}");
                }
                types[parts[2]] = parts[3];
                continue;
            }
            var match = SampleLine().Match(line);
            if (!match.Success)
            {
                throw new FormatException($"line {number}: not a sample: {line}");
            }
            var labels = new Dictionary<string, string>();
            foreach (Match label in LabelPair().Matches(match.Groups["labels"].Value))
            {
                labels[label.Groups["k"].Value] = Regex.Unescape(label.Groups["v"].Value);
            }
            var value = match.Groups["value"].Value switch
            {
                "+Inf" => double.PositiveInfinity,
                "-Inf" => double.NegativeInfinity,
                "NaN" => double.NaN,
                var v => double.Parse(v, NumberStyles.Float, CultureInfo.InvariantCulture),
            };
            samples.Add(new Sample(match.Groups["name"].Value, labels, value));
        }
        return new PrometheusText(samples, types);
    }

    public IEnumerable<Sample> Named(string name) => Samples.Where(s => s.Name == name);

    public double Sum(string name, Func<IReadOnlyDictionary<string, string>, bool>? where = null) =>
        Named(name).Where(s => where is null || where(s.Labels)).Sum(s => s.Value);

    [GeneratedRegex("""^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?<labels>([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*)\})? (?<value>[-+]?([0-9]*\.?[0-9]+([eE][-+]?[0-9]+)?|Inf|NaN))( -?[0-9]+)?$""")]
    private static partial Regex SampleLine();

    [GeneratedRegex(@"(?<k>[a-zA-Z_][a-zA-Z0-9_]*)=""(?<v>([^""\\]|\\.)*)""")]
    private static partial Regex LabelPair();
}
