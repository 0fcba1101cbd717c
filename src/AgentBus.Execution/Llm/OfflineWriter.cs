using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using AgentBus.Requirements;

namespace AgentBus.Llm;

/// <summary>
/// The offline provider's author: writes each agent's deliverable from the real inputs of the
/// prompt (every requirement sentence becomes an FR or NFR citing it, or a "not a requirement" with
/// the reason; FRs become tasks, tests, screens and doc sections), deterministically, with no network.
/// </summary>
public static partial class OfflineWriter
{
    private static readonly string[] Stop = ["that", "this", "with", "from", "have", "will", "should", "must", "able", "their", "them", "they",
        "into", "also", "when", "which", "there", "about", "each", "every", "more", "than", "need", "needs", "want", "wants", "using", "used",
        "shall", "would", "could", "where", "what", "your", "other", "some", "such", "only", "well", "make", "many", "much", "very", "being", "after", "before"];

    public static string Write(string agentType, string prompt)
    {
        var input = Parse(prompt);
        return agentType switch
        {
            "prd_agent" => Prd(input),
            "plan_agent" => Plan(input),
            "architect_agent" => Architecture(input),
            "uiux_agent" => UiUx(input),
            "developer_agent" => Development(input),
            "qa_agent" => Qa(input),
            "security_agent" => Security(input),
            "tech_writer" => Documentation(input),
            "support_engineer" => Support(input),
            "product_manager" => Review(input),
            _ => throw new ArgumentException($"The offline provider has no writer for agent type '{agentType}'.", nameof(agentType)),
        };
    }

    private sealed record Input(string Name, IReadOnlyList<RequirementSentence> Sentences, Dictionary<string, string> Artifacts, string? Notes, string? Previous, int SimilarPrds)
    {
        /// <summary>The sentences' text without ids or bullets: the same whether the prompt carried raw or numbered requirements.</summary>
        public string Requirements { get; } = string.Join('\n', Sentences.Select(s => s.Text));
        public IReadOnlyList<string> Terms { get; } = KeyTerms(string.Join('\n', Sentences.Select(s => s.Text)));
        public Draft Drafted { get; } = DraftRequirements(Name, Sentences);

        /// <summary>The PRD's FR lines (text without the citation), or the drafted FRs when there is no PRD yet.</summary>
        public IReadOnlyList<(string Id, string Text)> Functional =>
            (Artifacts.TryGetValue("prd", out var prd) ? Traceability.ReadPrd(prd).Requirements.Where(r => r.Id.StartsWith("FR-", StringComparison.Ordinal)).ToList() : [])
                is { Count: > 0 } read ? read.Select(r => (r.Id, r.Text)).ToList() : Drafted.Functional.Select(r => (r.Id, r.Text)).ToList();

        /// <summary>Sentences that can stand in a paragraph: a heading of the customer's text would start a section of ours.</summary>
        public IEnumerable<string> Prose => Sentences.Select(s => s.Text).Where(t => !t.StartsWith('#'));
    }

    /// <summary>Every requirement sentence placed: an FR, an NFR, or not a requirement with the reason.</summary>
    private sealed record Draft(IReadOnlyList<TracedRequirement> Functional, IReadOnlyList<TracedRequirement> Quality, IReadOnlyList<(string Id, string Reason)> NotRequirements);

    private static Input Parse(string prompt)
    {
        var requirements = RequirementsTag().Match(prompt);
        // Inputs are read between the requirements and </project>: the customer's text and the
        // agent's instructions after the inputs may hold anything, tags included.
        var from = requirements.Success ? requirements.Index + requirements.Length : 0;
        var to = prompt.LastIndexOf("</project>", StringComparison.Ordinal) is var end && end >= from ? end : prompt.Length;
        var inputs = prompt[from..to];
        var artifacts = ArtifactTag().Matches(inputs).DistinctBy(m => m.Groups[1].Value).ToDictionary(m => m.Groups[1].Value, m => m.Groups[2].Value);
        var name = ProjectName().Match(prompt) is { Success: true } n ? n.Groups[1].Value.Replace("&quot;", "\"", StringComparison.Ordinal) : "Project";
        string? Tag(Regex tag) => tag.Match(inputs) is { Success: true } m ? m.Groups[1].Value : null;
        return new Input(name, Traceability.Sentences(requirements.Success ? requirements.Groups[1].Value : ""), artifacts,
            Tag(NotesTag()), Tag(PreviousTag()), SimilarTag().Matches(inputs).Count);
    }

    private static Draft DraftRequirements(string name, IReadOnlyList<RequirementSentence> sentences)
    {
        var notRequirements = sentences.Select(s => (s.Id, Reason: NotRequirementReason(s.Text))).Where(s => s.Reason is not null).Select(s => (s.Id, s.Reason!)).ToList();
        var requirements = sentences.Where(s => notRequirements.All(n => n.Id != s.Id)).ToList();
        var quality = requirements.Where(s => QualityWord().IsMatch(s.Text)).ToList();
        var functional = requirements.Except(quality).DefaultIfEmpty(quality.FirstOrDefault()).OfType<RequirementSentence>()
            .Select((s, i) => new TracedRequirement($"FR-{i + 1}", s.Text, [s.Id])).ToList();
        if (functional.Count == 0)
        {
            // Nothing the product must do was found: the FR is an assumption, and says so by citing nothing.
            functional.Add(new TracedRequirement("FR-1", $"{name} does what the requirements describe.", []));
        }
        var nfrs = quality.Select((s, i) => new TracedRequirement($"NFR-{i + 1}", s.Text, [s.Id])).DefaultIfEmpty(
            new TracedRequirement("NFR-1", "The system responds to interactive requests within 200 ms at the 99th percentile.", [])).ToList();
        return new Draft(functional, nfrs, notRequirements);
    }

    /// <summary>Why a sentence is not a requirement (a heading, a lead-in, the customer's context), or null when it is one.</summary>
    private static string? NotRequirementReason(string sentence) =>
        sentence.StartsWith('#') ? "a heading of the requirements text, not something the product must do."
        : sentence.EndsWith(':') ? "introduces the sentences that follow, not something the product must do."
        : ContextStart().IsMatch(sentence) && !MandatoryWord().IsMatch(sentence) ? "describes the customer's context, not something the product must do."
        : null;

    private static string RequirementLine(TracedRequirement r) => $"- {r.Id}: {r.Text} {(r.Sources.Count > 0 ? $"({string.Join(", ", r.Sources)})" : "(assumed)")}\n";

    private static string Prd(Input input)
    {
        var md = new StringBuilder($"# {input.Name}: Product Requirements Document\n\n");
        md.Append("## Problem\n\n").Append(string.Join(' ', input.Prose.Take(2))).Append("\n\n");
        var users = input.Sentences.Select(s => s.Text).Where(s => UserWord().IsMatch(s)).ToList();
        var roles = UserWord().Matches(input.Requirements).Select(m => m.Value.ToLowerInvariant()).Distinct().ToList();
        md.Append("## Users\n\n");
        md.Append(roles.Count > 0 ? string.Concat(roles.Select(r => $"- **{r}**: {users.FirstOrDefault(u => u.Contains(r, StringComparison.OrdinalIgnoreCase)) ?? "uses the product"}\n")) : "- Primary users as described in the requirements.\n");
        var frs = input.Drafted.Functional;
        md.Append("\n## Goals\n\n").Append(string.Concat(frs.Take(5).Select(f => $"- {f.Text}\n")));
        md.Append("\n## Scope\n\n### In scope\n\n").Append(string.Concat(input.Terms.Take(8).Select(t => $"- {t}\n")));
        md.Append("\n### Out of scope\n\n- Capabilities not named in the requirements; they need a new PRD version.\n");
        md.Append("\n## Requirements\n\n").Append(string.Concat(frs.Concat(input.Drafted.Quality).Select(RequirementLine)));
        if (input.Drafted.NotRequirements.Count > 0)
        {
            md.Append("\n## Not requirements\n\n").Append(string.Concat(input.Drafted.NotRequirements.Select(n => $"- {n.Id}: {n.Reason}\n")));
        }
        md.Append("\n## Acceptance criteria\n\n");
        foreach (var fr in frs)
        {
            md.Append($"- {fr.Id}: Given a signed-in user, when they use the capability \"{Shorten(fr.Text, 80)}\", then it behaves as stated and the result is persisted.\n");
        }
        md.Append("\n## Risks\n\n").Append(string.Concat(Risks(input).Select(r => $"- {r}\n")));
        if (input.SimilarPrds > 0)
        {
            md.Append($"\n## Prior art\n\n- {input.SimilarPrds} similar earlier PRD(s) were consulted for structure and risks.\n");
        }
        if (input.Notes is { } notes)
        {
            md.Append("\n## Changes in this version\n\n").Append(string.Concat(Traceability.Sentences(notes).Select(n => $"- Addressed reviewer note: {n.Text}\n")));
        }
        return md.ToString();
    }

    private static string Plan(Input input)
    {
        var frs = input.Functional;
        var milestones = new List<object>
        {
            new { id = "M1", name = "Foundation", goal = "Repository, CI, environments and the data model", tasks = new[]
            {
                new { id = "T1", title = "Set up repository, CI and environments", requirements = Array.Empty<string>(), estimate_days = 2, depends_on = Array.Empty<string>() },
                new { id = "T2", title = $"Data model for {string.Join(", ", input.Terms.Take(3))}", requirements = Array.Empty<string>(), estimate_days = 3, depends_on = new[] { "T1" } },
            } },
        };
        var taskNumber = 3;
        foreach (var (chunk, index) in frs.Chunk(4).Select((c, i) => (c, i)))
        {
            milestones.Add(new
            {
                id = $"M{index + 2}",
                name = $"Features {chunk[0].Id} to {chunk[^1].Id}",
                goal = $"Deliver {string.Join(", ", chunk.Select(f => f.Id))}",
                tasks = chunk.Select(f => new { id = $"T{taskNumber++}", title = Shorten(f.Text, 100), requirements = new[] { f.Id }, estimate_days = Math.Clamp(f.Text.Length / 30, 1, 8), depends_on = new[] { "T2" } }).ToArray(),
            });
        }
        milestones.Add(new
        {
            id = $"M{milestones.Count + 1}",
            name = "Hardening and launch",
            goal = "Security review, load test, documentation, release",
            tasks = new[]
            {
                new { id = $"T{taskNumber}", title = "Security review fixes and load test", requirements = Array.Empty<string>(), estimate_days = 3, depends_on = Array.Empty<string>() },
            },
        });
        return JsonSerializer.Serialize(new { milestones, assumptions = new[] { "One cross-functional team", $"{frs.Count} functional requirements from the approved PRD" } },
            new JsonSerializerOptions { WriteIndented = true });
    }

    private static string Architecture(Input input)
    {
        var components = Components(input);
        var md = new StringBuilder($"# {input.Name}: Architecture\n\n## Overview\n\n");
        md.Append($"A web API in front of {components.Count} components, a relational database and a background worker for slow work. ");
        md.Append(IsMlWork(input) ? "Model inference runs on GPU nodes behind an internal inference service.\n" : "No GPU is needed.\n");
        md.Append("\n## Components\n\n");
        foreach (var (component, frs) in components)
        {
            md.Append($"- **{component}**: serves {string.Join(", ", frs)}; exposes a REST interface; owns its tables.\n");
        }
        md.Append("\n## Data model\n\n").Append(string.Concat(input.Terms.Take(6).Select(t => $"- `{Identifier(t)}`: id (uuid), created_at, updated_at, owner_id, fields for {t}\n")));
        md.Append("\n## APIs\n\n").Append(string.Concat(input.Terms.Take(4).Select(t => $"- `/api/{Identifier(t)}s`: list, create, read, update, delete\n")));
        md.Append("\n## Deployment\n\n- Containers on Kubernetes; Postgres managed; metrics to Prometheus, traces over OTLP.\n");
        md.Append("\n## Decisions\n\n- ADR-1: one relational database (alternatives: document store); why: transactional integrity across ")
          .Append(string.Join(", ", input.Terms.Take(3))).Append(".\n");
        return md.ToString();
    }

    private static string UiUx(Input input)
    {
        var md = new StringBuilder($"# {input.Name}: UI/UX specification\n\n## Personas and journeys\n\n");
        md.Append(string.Concat(UserWord().Matches(input.Requirements).Select(m => m.Value.ToLowerInvariant()).Distinct().DefaultIfEmpty("user")
            .Select(r => $"- {r}: signs in, reaches the main dashboard, completes their task in at most three steps\n")));
        md.Append("\n## Screens\n\n");
        foreach (var (id, text) in input.Functional)
        {
            md.Append($"- **{Title(text)}** ({id}): form and list for \"{Shorten(text, 70)}\"; empty state explains the first step; errors inline.\n");
        }
        md.Append("\n## Navigation\n\n- Top bar: ").Append(string.Join(" | ", input.Terms.Take(5).Select(Title))).Append("\n");
        md.Append("\n## Accessibility\n\n- WCAG 2.2 AA: keyboard paths for every screen, contrast 4.5:1, labels on all inputs.\n");
        return md.ToString();
    }

    private static string Development(Input input)
    {
        var md = new StringBuilder($"# {input.Name}: Development guide\n\n## Modules\n\n");
        foreach (var (component, frs) in Components(input))
        {
            md.Append($"- `src/{Identifier(component)}/`: handlers, domain model and repository for {string.Join(", ", frs)}\n");
        }
        md.Append("\n## API endpoints\n\n");
        foreach (var term in input.Terms.Take(4))
        {
            var path = $"/api/{Identifier(term)}s";
            md.Append($"- `GET {path}` (200 list, paged) · `POST {path}` (201, 400 problem+json) · `GET {path}/{{id}}` (200, 404)\n");
        }
        md.Append("\n## Implementation order\n\n").Append(string.Concat(input.Functional.Select((f, i) => $"{i + 1}. {f.Id}: {Shorten(f.Text, 90)}\n")));
        md.Append("\n## Coding standards and definition of done\n\n- Tests for every FR, reviewed pull requests, no warnings, telemetry on every endpoint.\n");
        return md.ToString();
    }

    private static string Qa(Input input)
    {
        var md = new StringBuilder($"# {input.Name}: QA plan\n\n## Strategy\n\nUnit tests per module, API tests per endpoint, end-to-end tests per journey.\n\n## Test cases\n\n");
        foreach (var ((id, text), i) in input.Functional.Select((f, i) => (f, i)))
        {
            md.Append($"- TC-{i + 1} ({id}): exercise \"{Shorten(text, 80)}\" with valid input → succeeds; with invalid input → 400 with field errors.\n");
        }
        md.Append("\n## Non-functional tests\n\n- Load test at twice the expected peak; p99 latency under 200 ms.\n\n## Exit criteria\n\n- Every TC passes; no open critical defects.\n");
        return md.ToString();
    }

    private static string Security(Input input)
    {
        var md = new StringBuilder($"# {input.Name}: Security review\n\n## Assets and trust boundaries\n\n");
        md.Append(string.Concat(input.Terms.Take(5).Select(t => $"- {t} data: stored in the database, reachable only through the API\n")));
        md.Append("\n## Threats\n\n");
        foreach (var (component, _) in Components(input))
        {
            md.Append($"- {component}: spoofing (stolen sessions), tampering (unvalidated input), information disclosure (over-broad queries); likelihood medium, impact high\n");
        }
        md.Append("\n## Controls required\n\n- Authentication on every route, role checks, input validation, parameterised SQL, secrets in a vault, audit log.\n");
        md.Append("\n## Security test cases\n\n").Append(string.Concat(input.Functional.Take(5).Select(f => $"- {f.Id}: access without a session is refused (401); another tenant's data is refused (403)\n")));
        md.Append("\n## Compliance notes\n\n").Append(PersonalData().IsMatch(input.Requirements) ? "- Personal data is processed: GDPR records of processing, retention limits, data subject requests.\n" : "- No personal data identified beyond account details.\n");
        return md.ToString();
    }

    private static string Documentation(Input input)
    {
        var md = new StringBuilder($"# {input.Name}: Documentation\n\n## Overview\n\n{string.Join(' ', input.Prose.Take(1))}\n\n## Getting started\n\n1. Sign in.\n2. Open {Title(input.Terms.FirstOrDefault() ?? "the dashboard")}.\n\n## Features\n\n");
        md.Append(string.Concat(input.Functional.Select(f => $"### {Title(f.Text)}\n\n{f.Text} ({f.Id})\n\n")));
        md.Append("## Administration\n\n- Users and roles, backups, monitoring dashboards.\n\n## Reference\n\n- API reference generated from the OpenAPI document.\n");
        return md.ToString();
    }

    private static string Support(Input input)
    {
        var md = new StringBuilder($"# {input.Name}: Support guide\n\n## FAQ\n\n");
        md.Append(string.Concat(input.Functional.Take(6).Select(f => $"- **How do I {Shorten(f.Text.ToLowerInvariant(), 70)}?** See the feature section for {f.Id} in the documentation.\n")));
        md.Append("\n## Troubleshooting\n\n").Append(string.Concat(input.Terms.Take(4).Select(t => $"- {Title(t)} not saved → validation error shown → correct the highlighted fields.\n")));
        md.Append("\n## Escalation paths\n\n- L1 support → on-call engineer (critical within 15 minutes) → product owner.\n\n## Known limitations\n\n- Out-of-scope items of the PRD.\n");
        return md.ToString();
    }

    /// <summary>The coverage comes from <see cref="Traceability.Coverage"/>, the one computation the stage runner applies to every model's review.</summary>
    private static string Review(Input input)
    {
        var coverage = Traceability.Coverage(input.Artifacts.GetValueOrDefault("prd") ?? Prd(input), input.Artifacts);
        var gaps = coverage.Gaps;
        var md = new StringBuilder($"# {input.Name}: Product review\n\n## Verdict\n\n");
        md.Append(gaps.Count == 0 ? "Ready: every requirement is planned, designed, tested and documented.\n" : $"Ready with conditions: {gaps.Count} requirement(s) not covered by every deliverable.\n");
        md.Append("\n## Gaps and risks\n\n").Append(gaps.Count == 0 ? "- None found.\n" : string.Concat(gaps.Select(g => $"- {g.Id} is missing from {string.Join(", ", g.Missing)}\n")));
        md.Append("\n## Launch checklist\n\n- Security controls verified\n- Load test passed\n- Support team trained\n");
        return Traceability.WithComputedCoverage(md.ToString(), coverage);
    }

    private static List<(string Component, List<string> Frs)> Components(Input input)
    {
        var frs = input.Functional;
        var terms = input.Terms.Take(Math.Clamp(frs.Count, 1, 5)).DefaultIfEmpty("core").ToList();
        return terms.Select((t, i) => ($"{Title(t)} service", frs.Where((_, j) => j % terms.Count == i).Select(f => f.Id).DefaultIfEmpty("NFR-1").ToList())).ToList();
    }

    private static IEnumerable<string> Risks(Input input)
    {
        if (PersonalData().IsMatch(input.Requirements))
        {
            yield return "Personal data: breach or non-compliance (high impact); mitigate with encryption, access control and GDPR review.";
        }
        if (PaymentWord().IsMatch(input.Requirements))
        {
            yield return "Payments: fraud and PCI scope (high impact); use a PCI-compliant provider, never store card numbers.";
        }
        if (IsMlWork(input))
        {
            yield return "Model quality drifts after launch (medium impact); monitor accuracy and retrain on fresh data.";
        }
        if (IntegrationWord().IsMatch(input.Requirements))
        {
            yield return "Third-party integrations change or fail (medium impact); isolate behind adapters with retries and contract tests.";
        }
        yield return $"Scope growth beyond the {input.Functional.Count} listed requirements (medium impact); changes go through a new PRD version.";
    }

    private static IReadOnlyList<string> KeyTerms(string text) =>
        Word().Matches(text.ToLowerInvariant()).Select(m => m.Value).Where(w => w.Length >= 4 && !Stop.Contains(w))
            .GroupBy(w => w.TrimEnd('s')).OrderByDescending(g => g.Count()).ThenBy(g => text.IndexOf(g.Key, StringComparison.OrdinalIgnoreCase))
            .Select(g => g.Key).Take(12).ToList();

    private static string Shorten(string text, int max) => text.Length <= max ? text.TrimEnd('.') : text[..max].TrimEnd() + "…";
    private static string Title(string text) => Shorten(text, 40) is var s && s.Length > 0 ? char.ToUpperInvariant(s[0]) + s[1..].TrimEnd('.') : "Feature";
    private static string Identifier(string text) => NonWord().Replace(text.ToLowerInvariant(), "_").Trim('_');

    [GeneratedRegex(@"<requirements>\n?(.*?)\n?</requirements>", RegexOptions.Singleline)] private static partial Regex RequirementsTag();
    [GeneratedRegex(@"<reviewer_notes>\n?(.*?)\n?</reviewer_notes>", RegexOptions.Singleline)] private static partial Regex NotesTag();
    [GeneratedRegex(@"<previous_version[^>]*>\n?(.*?)\n?</previous_version>", RegexOptions.Singleline)] private static partial Regex PreviousTag();
    [GeneratedRegex(@"<artifact type=""([a-z_]+)""[^>]*>\n?(.*?)\n?</artifact>", RegexOptions.Singleline)] private static partial Regex ArtifactTag();
    [GeneratedRegex(@"<project name=""([^""]*)"">")] private static partial Regex ProjectName();
    [GeneratedRegex(@"<similar_prd>")] private static partial Regex SimilarTag();
    [GeneratedRegex(@"[a-z][a-z0-9]+")] private static partial Regex Word();
    [GeneratedRegex(@"[^a-z0-9]+")] private static partial Regex NonWord();
    [GeneratedRegex(@"^(?:We are|We're|We have|Our|This is|Currently|Today|Background)\b", RegexOptions.IgnoreCase)] private static partial Regex ContextStart();
    [GeneratedRegex(@"\b(must|shall|should|needs? to|ha(?:s|ve) to|required|requires?)\b", RegexOptions.IgnoreCase)] private static partial Regex MandatoryWord();
    [GeneratedRegex(@"\b(payment|billing|invoice|card)s?\b", RegexOptions.IgnoreCase)] private static partial Regex PaymentWord();
    [GeneratedRegex(@"\b(integrat\w*|third[- ]party|api)\b", RegexOptions.IgnoreCase)] private static partial Regex IntegrationWord();
    [GeneratedRegex(@"\b(performance|latency|fast|secure|security|scal\w*|availability|uptime|reliab\w*|complian\w*|gdpr|accessib\w*)\b", RegexOptions.IgnoreCase)] private static partial Regex QualityWord();
    [GeneratedRegex(@"\b(users?|customers?|admins?|administrators?|operators?|managers?|staff|teams?|clients?|patients?|doctors?|nurses?|students?|teachers?|drivers?|sellers?|buyers?|members?|employees?|guests?|visitors?|owners?|developers?|analysts?)\b", RegexOptions.IgnoreCase)] private static partial Regex UserWord();
    // The routing's detector, so the architecture never promises GPUs to a "data model" or "staff training" project.
    private static bool IsMlWork(Input input) => Routing.GpuWorkDetector.Detect(input.Name, input.Requirements).RequiresGpu;

    [GeneratedRegex(@"\b(personal|email|address|phone|health|medical|birth|gdpr|privacy)\b", RegexOptions.IgnoreCase)] private static partial Regex PersonalData();
}
