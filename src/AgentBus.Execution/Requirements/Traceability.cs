using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace AgentBus.Requirements;

/// <summary>A sentence of the customer's requirements, numbered S1..Sn in the order written.</summary>
public sealed record RequirementSentence(string Id, string Text);

/// <summary>An FR-n or NFR-n line of a PRD: its text without the citation, and the sentences it cites.</summary>
public sealed record TracedRequirement(string Id, string Text, IReadOnlyList<string> Sources);

/// <summary>What a PRD traces: its requirements, and the sentences it says are not requirements (id to reason).</summary>
public sealed record PrdTrace(IReadOnlyList<TracedRequirement> Requirements, IReadOnlyDictionary<string, string> NotRequirements);

/// <summary>One FR and, per deliverable, whether that deliverable cites it.</summary>
public sealed record CoverageRow(string Id, IReadOnlyDictionary<string, bool> CoveredBy);

/// <summary>An FR and the deliverables that do not cite it.</summary>
public sealed record CoverageGap(string Id, IReadOnlyList<string> Missing);

/// <summary>Which deliverables cite which FR of the PRD.</summary>
public sealed record RequirementCoverage(IReadOnlyList<string> Columns, IReadOnlyList<CoverageRow> Rows)
{
    public IReadOnlyList<CoverageGap> Gaps =>
        Rows.Select(r => new CoverageGap(r.Id, Columns.Where(c => !r.CoveredBy.GetValueOrDefault(c)).ToList())).Where(g => g.Missing.Count > 0).ToList();

    public IReadOnlyList<string> Uncovered => Gaps.Select(g => g.Id).ToList();
}

/// <summary>
/// Traceability computed, not claimed: every sentence of the requirements becomes an FR/NFR that
/// cites it, or is listed as not a requirement with a reason; the review's coverage is computed
/// from the FR ids the deliverables cite. Pure functions, shared by the agents and the offline writer.
/// </summary>
public static partial class Traceability
{
    public static readonly IReadOnlyList<string> CoverageColumns = ["plan", "architecture", "qa", "documentation"];

    private static readonly Dictionary<string, string> ColumnLabels = new() { ["qa"] = "QA", ["documentation"] = "docs" };

    /// <summary>
    /// The sentences of <paramref name="requirements"/>: split after . ! ? and at line breaks, list
    /// bullets and numbering trimmed; only fragments without a letter are dropped. Lines already
    /// numbered "[S3] text" keep their ids, so the prompt's form reads back the same.
    /// </summary>
    public static IReadOnlyList<RequirementSentence> Sentences(string requirements)
    {
        var sentences = new List<RequirementSentence>();
        var last = 0;
        foreach (var rawLine in requirements.ReplaceLineEndings("\n").Split('\n'))
        {
            var line = rawLine.Trim();
            if (NumberedLine().Match(line) is { Success: true } numbered)
            {
                // A numbered line is one sentence by construction: splitting it again would renumber.
                var number = int.Parse(numbered.Groups[1].Value, CultureInfo.InvariantCulture);
                last = Math.Max(last, number);
                if (HasLetter(numbered.Groups[2].Value))
                {
                    sentences.Add(new($"S{number}", numbered.Groups[2].Value.Trim()));
                }
                continue;
            }
            foreach (var fragment in SentenceEnd().Split(ListMarker().Replace(line, "")))
            {
                var text = ListMarker().Replace(fragment.Trim(), "").Trim();
                if (HasLetter(text))
                {
                    sentences.Add(new($"S{++last}", text));
                }
            }
        }
        return sentences;
    }

    /// <summary>The requirements as the prompt carries them: one "[S1] text" line per sentence.</summary>
    public static string Numbered(string requirements) => string.Join('\n', Sentences(requirements).Select(s => $"[{s.Id}] {s.Text}"));

    /// <summary>
    /// The FR/NFR lines of a PRD (read from its requirement sections when it has them, the first
    /// line per id) and its "Not requirements" entries. Lenient: every S&lt;n&gt; on a line is a source.
    /// </summary>
    public static PrdTrace ReadPrd(string prd)
    {
        var sections = Sections(prd);
        var requirementSections = sections.Where(s => s.Heading.Contains("requirement", StringComparison.OrdinalIgnoreCase) && !IsNotRequirements(s.Heading)).ToList();
        var lines = requirementSections.SelectMany(s => s.Lines).Where(l => RequirementLine().IsMatch(l)).ToList();
        if (lines.Count == 0)
        {
            lines = sections.Where(s => !IsNotRequirements(s.Heading)).SelectMany(s => s.Lines).ToList();
        }
        var requirements = lines.Select(l => RequirementLine().Match(l)).Where(m => m.Success)
            .Select(m => new TracedRequirement(m.Groups["id"].Value.ToUpperInvariant(), CleanText(m.Groups["text"].Value), SourceIds(m.Groups["text"].Value)))
            .DistinctBy(r => r.Id).ToList();
        var notRequirements = new Dictionary<string, string>();
        foreach (var match in sections.Where(s => IsNotRequirements(s.Heading)).SelectMany(s => s.Lines).Select(l => NotRequirementLine().Match(l)).Where(m => m.Success))
        {
            foreach (var id in SourceIds(match.Groups["ids"].Value))
            {
                notRequirements.TryAdd(id, match.Groups["reason"].Value.Trim());
            }
        }
        return new(requirements, notRequirements);
    }

    /// <summary>The sentences of the requirements that no FR/NFR cites and that are not listed as not requirements.</summary>
    public static IReadOnlyList<RequirementSentence> Untraced(string requirements, string prd)
    {
        var trace = ReadPrd(prd);
        var traced = trace.Requirements.SelectMany(r => r.Sources).Concat(trace.NotRequirements.Keys).ToHashSet();
        return Sentences(requirements).Where(s => !traced.Contains(s.Id)).ToList();
    }

    /// <summary>
    /// Which deliverable cites which FR of <paramref name="prd"/>. The plan (JSON) covers an FR only
    /// through a task's requirements; the other deliverables by citing the id as a whole word.
    /// </summary>
    public static RequirementCoverage Coverage(string prd, IReadOnlyDictionary<string, string> artifacts)
    {
        var cited = CoverageColumns.ToDictionary(c => c, c => artifacts.TryGetValue(c, out var text) ? CitedIds(c, text) : []);
        var rows = ReadPrd(prd).Requirements.Where(r => r.Id.StartsWith("FR-", StringComparison.Ordinal))
            .Select(r => new CoverageRow(r.Id, CoverageColumns.ToDictionary(c => c, c => cited[c].Contains(r.Id)))).ToList();
        return new(CoverageColumns, rows);
    }

    /// <summary>
    /// The review with its "## Requirement coverage" section replaced by the computed one (inserted
    /// after "## Verdict", or appended, when it has none); every other byte is kept.
    /// </summary>
    public static string WithComputedCoverage(string review, RequirementCoverage coverage)
    {
        var section = CoverageSection(coverage);
        if (CoverageHeading().Match(review) is { Success: true } existing)
        {
            var end = SectionEnd(review, existing.Index + existing.Length);
            return review[..existing.Index] + section + (end < review.Length ? "\n" : "") + review[end..];
        }
        if (VerdictHeading().Match(review) is { Success: true } verdict && SectionEnd(review, verdict.Index + verdict.Length) is var at && at < review.Length)
        {
            return review[..at] + Separator(review[..at]) + section + "\n" + review[at..];
        }
        return review + Separator(review) + section;
    }

    /// <summary>A section naming the sentences a PRD leaves untraced, for a reviewer to decide; empty when there are none.</summary>
    public static string UntracedSection(IReadOnlyList<RequirementSentence> untraced)
    {
        if (untraced.Count == 0)
        {
            return "";
        }
        var md = new StringBuilder("## Requirement sentences not traced\n\n");
        md.Append("The PRD neither turned these sentences of the requirements into requirements nor said why they are not requirements; a reviewer decides.\n\n");
        md.Append(string.Concat(untraced.Select(s => $"- {s.Id}: {s.Text}\n")));
        return md.ToString();
    }

    private static string CoverageSection(RequirementCoverage coverage)
    {
        var md = new StringBuilder("## Requirement coverage\n\n");
        md.Append("| FR | ").Append(string.Join(" | ", coverage.Columns.Select(c => ColumnLabels.GetValueOrDefault(c, c)))).Append(" |\n");
        md.Append("| --- |").Append(string.Concat(coverage.Columns.Select(_ => " --- |"))).Append('\n');
        foreach (var row in coverage.Rows)
        {
            md.Append($"| {row.Id} | ").Append(string.Join(" | ", coverage.Columns.Select(c => row.CoveredBy.GetValueOrDefault(c) ? "yes" : "no"))).Append(" |\n");
        }
        md.Append("\nComputed by Agent Bus from the FR ids each deliverable cites (the plan's task requirements, the text of the others)");
        md.Append(coverage.Rows.Count == 0 ? "; the PRD names no FR.\n" : ".\n");
        var gaps = coverage.Gaps;
        if (gaps.Count > 0)
        {
            md.Append($"\n**{gaps.Count} requirement(s) not covered:**\n\n").Append(string.Concat(gaps.Select(g => $"- {g.Id}: missing from {string.Join(", ", g.Missing)}\n")));
        }
        return md.ToString();
    }

    private static HashSet<string> CitedIds(string column, string text)
    {
        if (column == "plan" && PlanRequirements(text) is { } planned)
        {
            return planned;
        }
        return RequirementId().Matches(text).Select(m => m.Value.ToUpperInvariant()).ToHashSet();
    }

    /// <summary>The ids in milestones[].tasks[].requirements, or null when the plan is not JSON (then its text counts).</summary>
    private static HashSet<string>? PlanRequirements(string plan)
    {
        try
        {
            using var json = JsonDocument.Parse(plan);
            var ids = new HashSet<string>();
            foreach (var task in Items(json.RootElement, "milestones").SelectMany(m => Items(m, "tasks")))
            {
                ids.UnionWith(Items(task, "requirements").Where(r => r.ValueKind == JsonValueKind.String)
                    .SelectMany(r => RequirementId().Matches(r.GetString()!).Select(m => m.Value.ToUpperInvariant())));
            }
            return ids;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static IEnumerable<JsonElement> Items(JsonElement element, string property) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(property, out var items) && items.ValueKind == JsonValueKind.Array
            ? items.EnumerateArray().ToList()
            : [];

    private sealed record Section(string Heading, IReadOnlyList<string> Lines);

    /// <summary>The document cut at its "## " headings ("### " stays inside); the text before the first has an empty heading.</summary>
    private static List<Section> Sections(string markdown)
    {
        var sections = new List<Section>();
        var heading = "";
        var lines = new List<string>();
        foreach (var line in markdown.ReplaceLineEndings("\n").Split('\n'))
        {
            if (SectionHeading().IsMatch(line))
            {
                sections.Add(new(heading, lines));
                (heading, lines) = (line.Trim(), []);
            }
            else
            {
                lines.Add(line);
            }
        }
        sections.Add(new(heading, lines));
        return sections;
    }

    private static bool IsNotRequirements(string heading) => heading.StartsWith("## Not requirement", StringComparison.OrdinalIgnoreCase);

    private static List<string> SourceIds(string text) => SourceId().Matches(text).Select(m => m.Value.ToUpperInvariant()).Distinct().ToList();

    /// <summary>The requirement's text without its citation ("(S1)", "[S1, S3]", "(from S2)") or table pipes.</summary>
    private static string CleanText(string text) => TrailingSources().Replace(Citation().Replace(text.Replace("**", "", StringComparison.Ordinal), ""), "").Trim().Trim('|').Trim();

    private static int SectionEnd(string text, int from) => NextHeading().Match(text, from) is { Success: true } next ? next.Index : text.Length;

    private static string Separator(string before) => before.Length == 0 || before.EndsWith("\n\n", StringComparison.Ordinal) ? "" : before.EndsWith('\n') ? "\n" : "\n\n";

    private static bool HasLetter(string text) => text.Any(char.IsLetter);

    [GeneratedRegex(@"^\[S(\d{1,6})\]\s*(.*)$")] private static partial Regex NumberedLine();
    [GeneratedRegex(@"^(?:[-*+]\s+|•\s*|\d{1,3}[.)]\s+)+")] private static partial Regex ListMarker();
    [GeneratedRegex(@"(?<=[.!?])\s+")] private static partial Regex SentenceEnd();
    [GeneratedRegex(@"^##\s")] private static partial Regex SectionHeading();
    [GeneratedRegex(@"^\s*(?:[-*•+]\s+|\d+[.)]\s+|\|\s*)?[*_]{0,2}(?<id>N?FR-\d+)\b[*_]{0,2}\s*[:.|–—-]?[*_]{0,2}\s*(?<text>.*)$", RegexOptions.IgnoreCase)] private static partial Regex RequirementLine();
    [GeneratedRegex(@"^\s*(?:[-*•+]\s+|\d+[.)]\s+)?[*_]{0,2}\[?(?<ids>S\d+(?:\s*(?:,|&|and)\s*S\d+)*)\b\]?[*_]{0,2}\s*[:.)–—-]?\s*(?<reason>.*)$")] private static partial Regex NotRequirementLine();
    [GeneratedRegex(@"\bS\d+\b")] private static partial Regex SourceId();
    [GeneratedRegex(@"\s*[(\[][^()\[\]]*\bS\d+\b[^()\[\]]*[)\]]")] private static partial Regex Citation();
    [GeneratedRegex(@"\s*(?:[|;–—-]\s*(?:[Ss]ources?:?|from)?|\b[Ss]ources?:?|\bfrom\b)\s*S\d+(?:\s*(?:,|&|and)\s*S\d+)*\s*\|?\s*$")] private static partial Regex TrailingSources();
    [GeneratedRegex(@"\b(?:N?FR)-\d+\b", RegexOptions.IgnoreCase)] private static partial Regex RequirementId();
    [GeneratedRegex(@"^##\s+Requirements?\s+coverage\b[^\n]*\n?", RegexOptions.Multiline | RegexOptions.IgnoreCase)] private static partial Regex CoverageHeading();
    [GeneratedRegex(@"^##\s+Verdict\b[^\n]*\n?", RegexOptions.Multiline | RegexOptions.IgnoreCase)] private static partial Regex VerdictHeading();
    [GeneratedRegex(@"^#{1,2}\s", RegexOptions.Multiline)] private static partial Regex NextHeading();
}
