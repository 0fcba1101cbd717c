using AgentBus.Web.Components.Shared;
using AgentBus.Web.Rendering;
using AgentBus.Web.Security;

namespace AgentBus.UnitTests.Web;

/// <summary>What the web app shows of untrusted text (requirements, notes, model output), and where it sends people.</summary>
public sealed class WebRenderingTests
{
    private static readonly MarkdownRenderer Markdown = new();

    [Theory]
    [InlineData("<script>alert(1)</script>", "<script")]
    [InlineData("<img src=x onerror=alert(1)>", "<img")]
    [InlineData("Hello <iframe src=\"https://evil.example\"></iframe>", "<iframe")]
    [InlineData("<a href=\"javascript:alert(1)\">x</a>", "<a href=\"javascript")]
    [InlineData("[click](javascript:alert(1))", "javascript:")]
    [InlineData("![x](javascript:alert(1))", "javascript:")]
    [InlineData("<div onclick=\"alert(1)\">x</div>", "<div")]
    public void Raw_html_and_script_urls_never_reach_the_page(string markdown, string forbidden)
    {
        var html = Markdown.Render(markdown).Value;
        Assert.DoesNotContain(forbidden, html, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void Raw_html_is_shown_as_text()
    {
        var html = Markdown.Render("Requirement: <script>alert(1)</script>").Value;
        Assert.Contains("&lt;script&gt;alert(1)&lt;/script&gt;", html);
    }

    [Theory]
    [InlineData("[docs](https://example.com/docs)")]
    [InlineData("See https://example.com/docs for more.")]
    public void Links_open_apart_and_pass_no_referrer_or_ranking(string markdown)
    {
        var html = Markdown.Render(markdown).Value;
        Assert.Contains("href=\"https://example.com/docs\"", html);
        Assert.Contains("rel=\"noopener noreferrer nofollow\"", html);
        Assert.Contains("target=\"_blank\"", html);
    }

    [Fact]
    public void Markdown_structure_survives_sanitizing()
    {
        var html = Markdown.Render("## Requirements\n\n| id | text |\n| --- | --- |\n| FR-1 | Book online |\n\n- [x] done\n\n**bold** and `code`").Value;
        foreach (var element in new[] { "<h2", "<table>", "<td>FR-1</td>", "<li", "<strong>bold</strong>", "<code>code</code>" })
        {
            Assert.Contains(element, html);
        }
    }

    [Fact]
    public void A_diff_marks_added_removed_and_kept_lines_in_order()
    {
        var lines = TextDiff.Lines("# PRD\nFR-1: Book online\nFR-2: Email reminders", "# PRD\nFR-1: Book online\nFR-2: SMS reminders\nFR-3: Daily schedule");
        Assert.Equal(
            [(TextDiff.Change.Kept, "# PRD"), (TextDiff.Change.Kept, "FR-1: Book online"), (TextDiff.Change.Removed, "FR-2: Email reminders"),
             (TextDiff.Change.Added, "FR-2: SMS reminders"), (TextDiff.Change.Added, "FR-3: Daily schedule")],
            lines.Select(l => (l.Change, l.Text)));
    }

    [Fact]
    public void The_plan_reads_as_milestones_and_tasks_with_their_requirements()
    {
        var plan = PlanView.TryParse("""
            {"milestones":[{"id":"M1","name":"Booking","goal":"Patients book","tasks":[
              {"id":"T1","title":"Booking API","requirements":["FR-1","FR-2"],"estimate_days":3,"depends_on":[]},
              {"id":"T2","title":"Reminders","estimate_days":1.5}]}],"assumptions":["One clinic"]}
            """);
        Assert.NotNull(plan);
        var milestone = Assert.Single(plan.Milestones);
        Assert.Equal(["FR-1", "FR-2"], milestone.Tasks[0].Requirements);
        Assert.Equal(1.5m, milestone.Tasks[1].EstimateDays);
        Assert.Empty(milestone.Tasks[1].Requirements); // absent lists read as empty, not null
        Assert.Equal(["One clinic"], plan.Assumptions);
        Assert.Null(PlanView.TryParse("not json"));
        Assert.Null(PlanView.TryParse("""{"something":"else"}"""));
    }

    [Theory]
    [InlineData("prd", "PRD")]
    [InlineData("uiux", "UI/UX")]
    [InlineData("pm_review", "PM review")]
    [InlineData("support_docs", "Support docs")]
    [InlineData("something_new", "something new")]
    [InlineData(null, "")]
    public void Stages_read_as_people_name_them(string? stage, string shown) => Assert.Equal(shown, Display.Stage(stage));

    [Theory]
    [InlineData("/jobs/1", "/jobs/1")]
    [InlineData("/", "/")]
    [InlineData(null, "/")]
    [InlineData("", "/")]
    [InlineData("https://evil.example/", "/")]
    [InlineData("//evil.example/", "/")]
    [InlineData("/\\evil.example/", "/")]
    [InlineData("jobs", "/")]
    public void Sign_in_returns_only_to_pages_of_this_app(string? returnUrl, string expected) =>
        Assert.Equal(expected, SignInEndpoints.LocalOrRoot(returnUrl));
}
