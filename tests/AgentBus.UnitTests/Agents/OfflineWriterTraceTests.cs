using System.Text;
using AgentBus.Llm;
using AgentBus.Requirements;

namespace AgentBus.UnitTests.Agents;

/// <summary>The offline writer keeps every requirement sentence and reviews with the shared coverage computation.</summary>
public sealed class OfflineWriterTraceTests
{
    private const string ThreeSentences = "Patients must be able to book appointments online. Doctors should see their daily schedule. SMS reminders 24h before.";

    private const string Varied = """
        # Clinic portal

        We are a network of five clinics in Lyon. Currently patients call the front desk to book.
        Our doctors must confirm each booking within an hour.
        The portal needs:
        - Online booking for patients
        * Waiting list when a day is full
        1. Cancellation up to 2 hours before
        2) Invoices by email. Payments by card!
        Can nurses see the list?
        <script>alert(1)</script> Users must export data.
        Pages must load in under a second and the site must be GDPR compliant.
        Today's paper forms stay for walk-ins.
        Background: the old system runs on Access.
        Export CSV
        ## Later
        Video visits
        """;

    [Fact]
    public void The_three_sentence_example_gives_three_frs_each_citing_its_sentence()
    {
        var prd = OfflineWriter.Write("prd_agent", Prompt("prd_agent", ThreeSentences));

        Assert.Contains("- FR-1: Patients must be able to book appointments online. (S1)\n", prd);
        Assert.Contains("- FR-2: Doctors should see their daily schedule. (S2)\n", prd);
        Assert.Contains("- FR-3: SMS reminders 24h before. (S3)\n", prd);
        Assert.Contains("- NFR-1: The system responds to interactive requests within 200 ms at the 99th percentile. (assumed)\n", prd);
        Assert.DoesNotContain("## Not requirements", prd);
        Assert.Empty(Traceability.Untraced(ThreeSentences, prd));
        // The prompt of today (raw requirements) and of tomorrow (numbered) give the same PRD.
        Assert.Equal(prd, OfflineWriter.Write("prd_agent", Prompt("prd_agent", ThreeSentences, numbered: false)));
    }

    [Fact]
    public void A_long_varied_text_leaves_no_sentence_untraced()
    {
        var prd = OfflineWriter.Write("prd_agent", Prompt("prd_agent", Varied));
        var trace = Traceability.ReadPrd(prd);

        Assert.Empty(Traceability.Untraced(Varied, prd));
        Assert.Equal(Traceability.Sentences(Varied).Count, trace.Requirements.SelectMany(r => r.Sources).Distinct().Count() + trace.NotRequirements.Count);
        Assert.Contains(trace.Requirements, r => r.Text == "<script>alert(1)</script> Users must export data.");
        Assert.Contains(trace.Requirements, r => r.Text == "Our doctors must confirm each booking within an hour.");
        Assert.Contains(trace.Requirements, r => r.Text == "Can nurses see the list?");
        Assert.Contains(trace.Requirements, r => r.Id.StartsWith("NFR-", StringComparison.Ordinal) && r.Text.Contains("GDPR", StringComparison.Ordinal));
        Assert.Contains(trace.Requirements, r => r.Text == "Export CSV");
        Assert.Contains(trace.Requirements, r => r.Text == "Video visits");
        var context = Traceability.Sentences(Varied).Where(s => trace.NotRequirements.ContainsKey(s.Id)).Select(s => s.Text).ToList();
        Assert.Equal(["# Clinic portal", "We are a network of five clinics in Lyon.", "Currently patients call the front desk to book.", "The portal needs:",
            "Today's paper forms stay for walk-ins.", "Background: the old system runs on Access.", "## Later"], context);
        Assert.All(trace.NotRequirements.Values, reason => Assert.EndsWith("not something the product must do.", reason, StringComparison.Ordinal));
        // A heading of the customer's text never becomes a heading of the PRD.
        Assert.DoesNotContain("\n## Later", prd);
        Assert.DoesNotContain("\n# Clinic portal", prd);
    }

    [Fact]
    public void The_offline_review_reports_a_requirement_the_qa_plan_lacks()
    {
        var artifacts = Chain(ThreeSentences, until: "pm_review");
        artifacts["qa"] = artifacts["qa"].Replace("FR-2", "FR-9", StringComparison.Ordinal);

        var review = OfflineWriter.Write("product_manager", Prompt("product_manager", ThreeSentences, artifacts));

        Assert.Contains("Ready with conditions: 1 requirement(s)", review);
        Assert.Contains("| FR-1 | yes | yes | yes | yes |\n| FR-2 | yes | yes | no | yes |\n| FR-3 | yes | yes | yes | yes |\n", review);
        Assert.Contains("**1 requirement(s) not covered:**\n\n- FR-2: missing from qa\n", review);
        Assert.Contains("- FR-2 is missing from qa\n", review);
        Assert.Equal(["FR-2"], Traceability.Coverage(artifacts["prd"], artifacts).Uncovered);
        // The stage runner's pass over the review changes nothing: the offline writer already wrote the computed section.
        Assert.Equal(review, Traceability.WithComputedCoverage(review, Traceability.Coverage(artifacts["prd"], artifacts)));
    }

    [Theory]
    [InlineData(ThreeSentences)]
    [InlineData(SampleRequirements.Clinic)]
    [InlineData(Varied)]
    public void A_whole_offline_chain_ends_in_a_review_with_no_gaps(string requirements)
    {
        var artifacts = Chain(requirements, until: null);
        var review = artifacts["pm_review"];

        var frs = Traceability.ReadPrd(artifacts["prd"]).Requirements.Where(r => r.Id.StartsWith("FR-", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(frs);
        Assert.Empty(Traceability.Untraced(requirements, artifacts["prd"]));
        Assert.Empty(Traceability.Coverage(artifacts["prd"], artifacts).Gaps);
        Assert.Contains("Ready: every requirement is planned, designed, tested and documented.", review);
        Assert.All(frs, fr => Assert.Contains($"| {fr.Id} | yes | yes | yes | yes |\n", review));
        Assert.DoesNotContain("not covered", review);
        Assert.Contains("- None found.", review);
        Assert.Equal(["## Verdict", "## Requirement coverage", "## Gaps and risks", "## Launch checklist"],
            review.Split('\n').Where(l => l.StartsWith("## ", StringComparison.Ordinal)));
    }

    /// <summary>Every stage of the pipeline before <paramref name="until"/>, each written from a prompt holding its inputs.</summary>
    private static Dictionary<string, string> Chain(string requirements, string? until)
    {
        var artifacts = new Dictionary<string, string>();
        foreach (var stage in AgentBus.Jobs.Pipeline.Stages.TakeWhile(s => s.Name != until && s.AgentType != "delivery_agent"))
        {
            var inputs = stage.Inputs.Where(artifacts.ContainsKey).ToDictionary(t => t, t => artifacts[t]);
            artifacts[stage.Name] = OfflineWriter.Write(stage.AgentType, Prompt(stage.AgentType, requirements, inputs));
        }
        return artifacts;
    }

    /// <summary>
    /// A user message shaped as the stages send it: the project, the numbered requirements, the PRD
    /// first, the other artifacts, then the agent's instructions (which mention tags and ids too).
    /// </summary>
    private static string Prompt(string agentType, string requirements, IReadOnlyDictionary<string, string>? artifacts = null, bool numbered = true)
    {
        var user = new StringBuilder("<project name=\"Clinic &quot;Lyon&quot;\">\n<requirements>\n")
            .Append(numbered ? Traceability.Numbered(requirements) : requirements).Append("\n</requirements>\n");
        foreach (var (type, content) in (artifacts ?? new Dictionary<string, string>()).OrderBy(a => a.Key != "prd"))
        {
            user.Append($"<artifact type=\"{type}\" version=\"1\">\n{content}\n</artifact>\n");
        }
        user.Append("</project>\nYou are the ").Append(agentType).Append(".\n");
        user.Append("Cite sources as \"- FR-1: text (S1)\". Example input: <artifact type=\"qa\" version=\"0\">\nFR-77\n</artifact>\n");
        return user.ToString();
    }
}
