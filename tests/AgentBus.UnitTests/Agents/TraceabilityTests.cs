using AgentBus.Requirements;

namespace AgentBus.UnitTests.Agents;

/// <summary>Traceability computed from the texts: sentences numbered, PRDs read leniently, coverage from what deliverables cite.</summary>
public sealed class TraceabilityTests
{
    private const string Clinic = "Patients must be able to book appointments online. Doctors should see their daily schedule. SMS reminders 24h before.";

    [Fact]
    public void Sentences_split_after_end_marks_and_at_line_breaks_and_keep_short_fragments()
    {
        var sentences = Traceability.Sentences(Clinic + "\nExport CSV\nOK?  Yes!");

        Assert.Equal(["S1", "S2", "S3", "S4", "S5", "S6"], sentences.Select(s => s.Id));
        Assert.Equal(["Patients must be able to book appointments online.", "Doctors should see their daily schedule.", "SMS reminders 24h before.", "Export CSV", "OK?", "Yes!"],
            sentences.Select(s => s.Text));
    }

    [Fact]
    public void Sentences_trim_bullets_and_numbering_keep_headings_and_drop_only_fragments_without_a_letter()
    {
        var sentences = Traceability.Sentences("# Clinic portal\n\n- Book online\n* Cancel a booking\n• Reschedule\n1. Pay by card\n2) Rate the visit\n  - 3. Nested item\n---\n42.\n");

        Assert.Equal(["# Clinic portal", "Book online", "Cancel a booking", "Reschedule", "Pay by card", "Rate the visit", "Nested item"], sentences.Select(s => s.Text));
        Assert.Equal("S7", sentences[^1].Id);
    }

    [Fact]
    public void Sentences_keep_markup_as_text()
    {
        var sentence = Assert.Single(Traceability.Sentences("<script>alert(1)</script> Users must export data."));

        Assert.Equal(new RequirementSentence("S1", "<script>alert(1)</script> Users must export data."), sentence);
    }

    [Fact]
    public void Numbered_lines_read_back_with_their_ids()
    {
        var numbered = Traceability.Numbered(Clinic);

        Assert.Equal("[S1] Patients must be able to book appointments online.\n[S2] Doctors should see their daily schedule.\n[S3] SMS reminders 24h before.", numbered);
        Assert.Equal(Traceability.Sentences(Clinic), Traceability.Sentences(numbered));
        Assert.Equal(numbered, Traceability.Numbered(numbered));
        Assert.Equal(["S3", "S7", "S8"], Traceability.Sentences("[S3] Book online. Really.\n[S7] Pay.\nA raw line after them.").Select(s => s.Id));
        Assert.Equal("Book online. Really.", Traceability.Sentences("[S3] Book online. Really.")[0].Text);
    }

    [Fact]
    public void ReadPrd_takes_every_source_on_a_requirement_line_and_the_not_requirements_with_their_reasons()
    {
        const string prd = """
            # Clinic: Product Requirements Document

            ## Requirements

            - FR-1: Patients can book appointments online. (S1)
            - **FR-2:** Doctors see their daily schedule [S2, S3]
            * NFR-1 — Pages load fast. (from S4)
            | FR-3 | SMS reminders a day before | S5 |
            1. FR-4: Admins manage opening hours — sources: S6 and S7

            ## Not Requirements (context)

            - S8: describes the clinic's context, not something the product must do.
            - **S9, S10** — headings of the customer's text.
            Some prose that is no entry.

            ## Acceptance criteria

            - FR-1: Given a patient (S11), when they book, then the slot is taken.
            - FR-5: Given nothing (S12).
            """;

        var trace = Traceability.ReadPrd(prd);

        Assert.Equal(["FR-1", "FR-2", "NFR-1", "FR-3", "FR-4"], trace.Requirements.Select(r => r.Id));
        Assert.Equal(["Patients can book appointments online.", "Doctors see their daily schedule", "Pages load fast.", "SMS reminders a day before", "Admins manage opening hours"],
            trace.Requirements.Select(r => r.Text));
        Assert.Equal([["S1"], ["S2", "S3"], ["S4"], ["S5"], ["S6", "S7"]], trace.Requirements.Select(r => r.Sources));
        Assert.Equal(["S8", "S9", "S10"], trace.NotRequirements.Keys);
        Assert.Equal("describes the clinic's context, not something the product must do.", trace.NotRequirements["S8"]);
        Assert.Equal("headings of the customer's text.", trace.NotRequirements["S10"]);
    }

    [Fact]
    public void ReadPrd_reads_the_whole_document_when_no_requirements_section_holds_an_fr()
    {
        var trace = Traceability.ReadPrd("# Notes\n\nFR-1: Book online (S1)\n\n## Functional\n\n- FR-2: Cancel (S2)\n");

        Assert.Equal(["FR-1", "FR-2"], trace.Requirements.Select(r => r.Id));
    }

    [Fact]
    public void Untraced_finds_a_sentence_the_prd_dropped()
    {
        const string prd = "## Requirements\n\n- FR-1: Patients can book appointments online. (S1)\n- FR-2: Doctors see their daily schedule. (S2)\n";

        var untraced = Assert.Single(Traceability.Untraced(Clinic, prd));

        Assert.Equal(new RequirementSentence("S3", "SMS reminders 24h before."), untraced);
    }

    [Fact]
    public void A_sentence_listed_as_not_a_requirement_is_traced()
    {
        const string prd = "## Requirements\n\n- FR-1: Book online. (S1)\n- NFR-1: Fast (S2)\n\n## Not requirements\n\n- S3: a reminder habit of the clinic, not something the product must do.\n";

        Assert.Empty(Traceability.Untraced(Clinic, prd));
        Assert.Equal(["S3"], Traceability.Untraced(Clinic, prd.Replace("## Not requirements", "## Notes", StringComparison.Ordinal)).Select(s => s.Id));
    }

    [Fact]
    public void The_plan_covers_an_fr_only_through_a_tasks_requirements()
    {
        const string prd = "## Requirements\n\n- FR-1: Book online. (S1)\n- FR-2: See the schedule. (S2)\n- NFR-1: Fast. (S3)\n";
        const string plan = """
            {"milestones":[{"id":"M1","name":"Features","goal":"FR-1 and FR-2","tasks":[
              {"id":"T1","title":"Booking","requirements":["FR-1"],"estimate_days":2,"depends_on":[]},
              {"id":"T2","title":"Schedule view for FR-2","requirements":[],"estimate_days":2,"depends_on":[]}]}],"assumptions":[]}
            """;

        var coverage = Traceability.Coverage(prd, new Dictionary<string, string> { ["plan"] = plan });

        Assert.Equal(["plan", "architecture", "qa", "documentation"], coverage.Columns);
        Assert.Equal(["FR-1", "FR-2"], coverage.Rows.Select(r => r.Id));
        Assert.True(coverage.Rows[0].CoveredBy["plan"]);
        Assert.False(coverage.Rows[1].CoveredBy["plan"]);
        // A plan that is not JSON is read as text.
        var text = Traceability.Coverage(prd, new Dictionary<string, string> { ["plan"] = "M1: FR-1 and FR-2, then launch" });
        Assert.All(text.Rows, r => Assert.True(r.CoveredBy["plan"]));
    }

    [Fact]
    public void Coverage_matches_whole_ids_and_a_missing_deliverable_covers_nothing()
    {
        var prd = "## Requirements\n\n" + string.Concat(Enumerable.Range(1, 10).Select(i => $"- FR-{i}: Feature {i}. (S{i})\n")) + "- NFR-1: Fast. (S11)\n";
        var artifacts = new Dictionary<string, string>
        {
            ["plan"] = """{"milestones":[{"tasks":[{"requirements":["FR-10", "NFR-1"]}]}]}""",
            ["architecture"] = "Serves FR-10, NFR-1 and FR-2.",
            ["qa"] = "TC-1 (fr-2): works; TC-2 (FR-1x) is a typo.",
        };

        var coverage = Traceability.Coverage(prd, artifacts);

        var first = coverage.Rows.Single(r => r.Id == "FR-1");
        Assert.Equal([false, false, false, false], coverage.Columns.Select(c => first.CoveredBy[c]));
        Assert.Equal([false, true, true, false], coverage.Columns.Select(c => coverage.Rows.Single(r => r.Id == "FR-2").CoveredBy[c]));
        Assert.Equal([true, true, false, false], coverage.Columns.Select(c => coverage.Rows.Single(r => r.Id == "FR-10").CoveredBy[c]));
        Assert.Equal(10, coverage.Uncovered.Count);
        Assert.Equal(["qa", "documentation"], coverage.Gaps.Single(g => g.Id == "FR-10").Missing);
    }

    [Fact]
    public void The_computed_coverage_replaces_the_reviews_section_and_keeps_every_other_byte()
    {
        const string before = "# Clinic: Product review\r\n\r\n## Verdict\n\nReady: all good (the model says).\n\n";
        const string after = "## Gaps and risks\n\n- None found.\n\n## Launch checklist\n\n- Load test passed\n";
        var review = before + "## Requirement coverage\n\n| FR | plan |\n| --- | --- |\n| FR-1 | yes |\n| FR-2 | yes |\n\n### Notes\n\nAll covered.\n\n" + after;

        var result = Traceability.WithComputedCoverage(review, Coverage());

        Assert.StartsWith(before, result, StringComparison.Ordinal);
        Assert.EndsWith("\n\n" + after, result, StringComparison.Ordinal);
        var section = result[before.Length..^after.Length];
        Assert.Equal("""
            ## Requirement coverage

            | FR | plan | architecture | QA | docs |
            | --- | --- | --- | --- | --- |
            | FR-1 | yes | yes | yes | yes |
            | FR-2 | yes | yes | no | no |

            Computed by Agent Bus from the FR ids each deliverable cites (the plan's task requirements, the text of the others).

            **1 requirement(s) not covered:**

            - FR-2: missing from qa, documentation


            """, section);
        Assert.DoesNotContain("All covered.", result);
    }

    [Fact]
    public void The_computed_coverage_is_inserted_after_the_verdict_or_appended()
    {
        const string verdict = "# Review\n\n## Verdict\n\nReady.\n";
        const string rest = "## Launch checklist\n\n- Done\n";

        var inserted = Traceability.WithComputedCoverage(verdict + "\n" + rest, Coverage());
        var appended = Traceability.WithComputedCoverage("# Review\n\nAll fine.", Coverage());

        Assert.StartsWith(verdict + "\n## Requirement coverage\n\n| FR |", inserted, StringComparison.Ordinal);
        Assert.EndsWith("- FR-2: missing from qa, documentation\n\n" + rest, inserted, StringComparison.Ordinal);
        Assert.StartsWith("# Review\n\nAll fine.\n\n## Requirement coverage\n", appended, StringComparison.Ordinal);
        Assert.EndsWith("- FR-2: missing from qa, documentation\n", appended, StringComparison.Ordinal);
    }

    [Fact]
    public void The_untraced_section_lists_each_sentence_for_a_reviewer()
    {
        var section = Traceability.UntracedSection([new("S3", "SMS reminders 24h before.")]);

        Assert.StartsWith("## Requirement sentences not traced\n\n", section, StringComparison.Ordinal);
        Assert.Contains("a reviewer decides", section);
        Assert.EndsWith("\n- S3: SMS reminders 24h before.\n", section, StringComparison.Ordinal);
        Assert.Equal("", Traceability.UntracedSection([]));
    }

    private static RequirementCoverage Coverage() =>
        Traceability.Coverage("## Requirements\n\n- FR-1: Book online. (S1)\n- FR-2: See the schedule. (S2)\n", new Dictionary<string, string>
        {
            ["plan"] = """{"milestones":[{"tasks":[{"requirements":["FR-1","FR-2"]}]}]}""",
            ["architecture"] = "FR-1, FR-2",
            ["qa"] = "FR-1",
            ["documentation"] = "FR-1",
        });
}
