using System.IO.Compression;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace AgentBus.IntegrationTests.Web;

/// <summary>
/// The web app in a real browser (Debian's headless Chromium) against the real AppHost: a person
/// signs in with a key, submits, reviews, asks for changes, approves and downloads without curl;
/// pages update live; roles shape the pages while the api decides; untrusted text stays inert;
/// every page passes axe-core with no serious or critical violation.
/// </summary>
[Collection(AppHostCollection.Name)]
public sealed class WebAppTests(AppHostFixture fixture) : IDisposable
{
    private static readonly TimeSpan Live = TimeSpan.FromSeconds(60);
    private const string Hostile = "<img src=x onerror=\"window.__xss='img'\"><script>window.__xss='script'</script>";

    private readonly BrowserSessions _sessions = new(fixture);

    private Browser Open() => _sessions.Open();

    /// <summary>Checks the page with axe and keeps its screenshot.</summary>
    private void Check(Browser browser, string page)
    {
        _sessions.Check(browser, page);
        Assert.Null(browser.Script("return window.__xss || null;")); // nothing untrusted ever ran
    }

    private async Task<string> KeyAsync(string role)
    {
        using var api = fixture.Api();
        using var response = await api.Http.PostAsJsonAsync("/api/keys", new { name = $"web test {role}", role });
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (string)(await response.Content.ReadFromJsonAsync<JsonObject>())!["key"]!;
    }

    [Fact]
    public async Task A_person_submits_reviews_asks_for_changes_approves_and_downloads_the_deliverables_in_the_browser()
    {
        var browser = Open();
        browser.Go("/");
        Assert.StartsWith("/signin", browser.Path); // nothing without signing in
        Check(browser, "signin");
        var operatorKey = await KeyAsync("operator");
        browser.SignIn(operatorKey);
        Assert.Contains("operator", browser.Text("header"));
        Assert.False(browser.Exists("a[href='/admin']"), "an operator sees no Admin link");

        // New project: the api's per-field errors beside the fields, then straight to the job page.
        browser.Go("/projects/new");
        browser.Find("#requirements").SendKeys("Too short");
        browser.Click("main form button[type=submit]");
        browser.Until(() => browser.Text("#name-error").Length > 0, TimeSpan.FromSeconds(15), "the name's error beside the field");
        Check(browser, "new-project");
        browser.Find("#name").SendKeys("Clinic booking " + Hostile);
        browser.Find("#requirements").Clear();
        browser.Find("#requirements").SendKeys(SampleRequirements.Clinic + " " + Hostile);
        browser.Find("#budget").SendKeys("5");
        browser.Click("main form button[type=submit]");
        browser.Until(() => browser.Path.StartsWith("/jobs/", StringComparison.Ordinal), TimeSpan.FromSeconds(15), "arriving at the job page");
        var jobId = Guid.Parse(browser.Path["/jobs/".Length..]);
        browser.Until(() => browser.Text("h1").Contains("<img src=x"), TimeSpan.FromSeconds(15), "the name shown as text, inert");

        // The approval gate reached live: no reload between the first render and the gate.
        browser.Until(() => browser.Text(".live").Contains("live"), TimeSpan.FromSeconds(15), "the job page following the event stream");
        browser.MarkDocument();
        browser.Until(() => browser.Text(".page-head .badge") == "waiting for approval", Live, "the job reaching the approval gate on the page");
        Assert.True(browser.SameDocument, "the page updated without a reload");
        Check(browser, "job-waiting-for-approval");

        // Request changes: notes are required; version 2 comes back with a diff.
        browser.Go($"/jobs/{jobId}/prd");
        Assert.Contains("Clinic booking", browser.Text("[data-testid=prd]"));
        Check(browser, "prd-review");
        browser.Click("a[href$='action=request-changes']");
        browser.Until(() => browser.Exists("#notes"), TimeSpan.FromSeconds(10), "the request-changes form");
        browser.Click(".decision button[type=submit]");
        Assert.Equal(true, browser.Script("return document.querySelector('#notes').matches(':invalid');")); // notes are required: nothing sent
        browser.Find("#notes").SendKeys("Add SMS reminders 24 hours before each appointment. " + Hostile);
        browser.Click(".decision button[type=submit]");
        browser.Until(() => browser.Path == $"/jobs/{jobId}", TimeSpan.FromSeconds(15), "back on the job page after asking for changes");
        browser.Until(() => browser.Text(".live").Contains("live"), TimeSpan.FromSeconds(15), "the job page following the event stream");
        browser.Until(() => browser.Exists("[data-event=changes_requested]") && browser.Text(".page-head .badge") == "waiting for approval"
            && browser.FindAll("[data-event=approval_requested]").Count == 2, Live, "version 2 waiting for approval");
        Assert.Matches("by key:[0-9a-f-]{36}", browser.Script("return document.querySelector('[data-event=changes_requested]').textContent;") as string);

        browser.Go($"/jobs/{jobId}/prd?version=2&compare=1");
        Assert.NotEmpty(browser.FindAll(".diff-added"));
        Assert.Contains("PRD version 2", browser.Find("[data-testid=prd]").GetAttribute("aria-label"));
        Check(browser, "prd-diff");

        // Approve (with its confirmation) and watch the job complete live, timing each stage change.
        // The watching page is open before the approval: the offline stages can all finish before
        // a page opened after it has connected.
        var watcher = Open();
        watcher.SignIn(operatorKey);
        watcher.Go($"/jobs/{jobId}");
        watcher.Until(() => watcher.Exists("[data-interactive=true]") && watcher.Text(".live").Contains("live"), TimeSpan.FromSeconds(15), "the watching job page following the event stream");
        watcher.MarkDocument();
        watcher.Script("""
            window.__seen = {};
            window.__since = Date.now();
            const record = () => document.querySelectorAll('[data-stage].stage-completed')
                .forEach(e => window.__seen[e.dataset.stage] ??= Date.now());
            record();
            new MutationObserver(record).observe(document.body, { subtree: true, childList: true, attributes: true });
            """);
        browser.Click("a[href$='action=approve']");
        browser.Until(() => browser.Exists(".decision button.primary"), TimeSpan.FromSeconds(10), "the approval confirmation");
        browser.Click(".decision button.primary");
        browser.Until(() => browser.Path == $"/jobs/{jobId}", TimeSpan.FromSeconds(15), "back on the job page after approving");
        watcher.Until(() => watcher.Text(".page-head .badge") == "completed", TimeSpan.FromSeconds(120), "the job completing on the watching page");
        Assert.True(watcher.SameDocument, "the page followed the job to the end without a reload");
        Assert.Equal(11, watcher.FindAll("[data-stage].stage-completed").Count);
        await ReportStageLatencyAsync(watcher, jobId);
        browser.Until(() => browser.Text(".page-head .badge") == "completed", TimeSpan.FromSeconds(30), "the job completed on the approver's page");
        browser.Until(() => browser.Exists("[data-event=job_approved]"), TimeSpan.FromSeconds(15), "the approval in the activity");
        Assert.Matches("by key:[0-9a-f-]{36}", browser.Script("return document.querySelector('[data-event=job_approved]').textContent;") as string);
        Check(browser, "job-completed");

        // Deliverables: every artifact rendered, the plan as milestones and tasks, all as one zip.
        browser.Go($"/jobs/{jobId}/deliverables");
        Assert.Equal(11, browser.FindAll("[data-artifact]").Count);
        Assert.Contains("FR-1", browser.Text("[data-artifact=plan]"));
        Assert.True(browser.FindAll("[data-artifact=plan] table").Count >= 1, "the plan as milestone tables");
        Check(browser, "deliverables");
        using var http = browser.HttpClientWithCookies();
        using (var zip = await http.GetAsync($"/download/jobs/{jobId}/artifacts.zip"))
        {
            Assert.Equal(HttpStatusCode.OK, zip.StatusCode);
            using var archive = new ZipArchive(await zip.Content.ReadAsStreamAsync());
            Assert.Equal(11, archive.Entries.Count);
            Assert.Equal("01-prd.md", archive.Entries[0].FullName);
        }
        using (var anonymous = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false }) { BaseAddress = browser.BaseAddress })
        using (var refused = await anonymous.GetAsync($"/download/jobs/{jobId}/artifacts.zip"))
        {
            Assert.Equal(HttpStatusCode.Found, refused.StatusCode); // to the sign-in page: no cookie, no download
            Assert.Contains("/signin", refused.Headers.Location?.OriginalString);
        }

        browser.Go($"/jobs/{jobId}/usage");
        Assert.True(browser.Exists("svg.chart"), "the usage chart");
        Assert.NotEqual("$0.0000", browser.Text("[data-testid=usage-cost]"));
        Check(browser, "usage");

        _sessions.AssertAccessible();
    }

    [Fact]
    public async Task Roles_shape_the_pages_the_api_decides_forged_posts_are_refused_and_the_jobs_list_updates_live()
    {
        using var api = fixture.Api();
        var waiting = await api.CreateProjectAsync("Web roles " + Guid.NewGuid().ToString("N")[..6]);
        await api.WaitForStatusAsync(waiting.JobId, "waiting_for_approval");

        // A viewer: no New project, no Admin, no decision on the PRD; the pages refuse what it may not do.
        var viewer = Open();
        viewer.SignIn(await KeyAsync("viewer"));
        Assert.Contains("viewer", viewer.Text("header"));
        Assert.False(viewer.Exists("a[href='/projects/new']"), "a viewer sees no New project link");
        viewer.Go($"/jobs/{waiting.JobId}/prd");
        Assert.True(viewer.Exists("[data-testid=prd]"));
        Assert.False(viewer.Exists("a[href$='action=approve']"), "a viewer sees no Approve");
        viewer.Go($"/jobs/{waiting.JobId}/prd?action=approve");
        Assert.False(viewer.Exists(".decision"), "nor the confirmation form by typing its address");
        viewer.Go("/admin");
        Assert.DoesNotContain("API keys", viewer.Text("main"));

        // Forged posts: without the form's antiforgery token, refused (400) and nothing changes.
        using (var http = viewer.HttpClientWithCookies())
        using (var forged = await http.PostAsync($"/jobs/{waiting.JobId}/prd",
            new FormUrlEncodedContent(new Dictionary<string, string> { ["_handler"] = "approve", ["Notes"] = "forged" })))
        {
            Assert.True(forged.StatusCode == HttpStatusCode.BadRequest, $"{forged.StatusCode} {forged.Headers.Location}");
        }
        using (var http = viewer.HttpClientWithCookies())
        using (var forged = await http.PostAsync("/signout", new FormUrlEncodedContent(new Dictionary<string, string>())))
        {
            Assert.Equal(HttpStatusCode.BadRequest, forged.StatusCode);
        }
        Assert.Equal("waiting_for_approval", (string?)(await api.GetJobAsync(waiting.JobId))["status"]);

        // An admin: the jobs list gains a job submitted elsewhere, without a reload.
        var admin = Open();
        admin.SignIn(fixture.AdminApiKey);
        admin.Go("/");
        admin.Until(() => admin.Text(".live").Contains("Live"), TimeSpan.FromSeconds(15), "the jobs page following every job's events");
        admin.MarkDocument();
        var name = "Listed live " + Guid.NewGuid().ToString("N")[..6];
        var listed = await api.CreateProjectAsync(name);
        admin.Until(() => admin.Exists($"tr[data-job-id='{listed.JobId}']"), TimeSpan.FromSeconds(15), "the new job appearing in the list");
        Assert.True(admin.SameDocument, "the list updated without a reload");
        Check(admin, "jobs");
        admin.Go("/?status=waiting_for_approval&q=" + Uri.EscapeDataString("Web roles"));
        // Read in one script: the interactive render may replace the prerendered rows at any moment.
        List<string> Statuses() => ((IEnumerable<object>)admin.Script("return Array.from(document.querySelectorAll('tbody tr td:nth-child(2)')).map(e => e.textContent.trim());")!).Cast<string>().ToList();
        var statuses = Statuses();
        admin.Until(() => (statuses = Statuses()).Count > 0, TimeSpan.FromSeconds(10), "the filtered list's rows");
        Assert.All(statuses, status => Assert.Equal("waiting for approval", status));

        // Admin: a key is shown once and works; revoked, it stops working.
        admin.Go("/admin");
        admin.Find("#key-name").SendKeys("Made in the browser");
        admin.Click("main form button.primary");
        admin.Until(() => admin.Exists("[data-testid=new-key]"), TimeSpan.FromSeconds(10), "the new key shown once");
        var key = admin.Text("[data-testid=new-key]");
        using (var client = fixture.CreateClient("api", key))
        {
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/api/me")).StatusCode);
        }
        Check(admin, "admin");
        admin.Go("/admin");
        Assert.DoesNotContain(key, admin.Driver.PageSource); // never again
        admin.Click("button[aria-label='Revoke key Made in the browser']");
        admin.Until(() => !admin.Exists("button[aria-label='Revoke key Made in the browser']"), TimeSpan.FromSeconds(10), "the key revoked");
        using (var client = fixture.CreateClient("api", key))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, (await client.GetAsync("/api/me")).StatusCode);
        }

        admin.Go("/operator/dead-letters");
        Assert.Contains("Dead letters", admin.Text("h1"));
        Check(admin, "dead-letters");
        admin.Go($"/projects/{waiting.ProjectId}/usage");
        Assert.StartsWith("Project usage", admin.Text("h1"));
        Check(admin, "project-usage");
        admin.Go("/no/such/page");
        Assert.Equal("Not found", admin.Text("h1"));
        Check(admin, "not-found");

        // The sign-in outlives the web's process: the keys that encrypt the cookie live in Redis,
        // where every replica (and the next process) reads them.
        await AgentBusAppFixture.KillAsync(await fixture.PidOf(AgentBusAppFixture.Web));
        await fixture.RestartAsync(AgentBusAppFixture.Web);
        admin.Go("/");
        Assert.Equal("/", admin.Path);
        Assert.Contains("admin", admin.Text("header"));

        // Sign out: the cookie is gone and the pages ask to sign in again.
        admin.Click("header form button");
        admin.Until(() => admin.Path.StartsWith("/signin", StringComparison.Ordinal), TimeSpan.FromSeconds(10), "signed out");
        admin.Go("/");
        Assert.StartsWith("/signin", admin.Path);

        _sessions.AssertAccessible();
    }

    [Fact]
    public async Task Buttons_fit_the_state_resume_after_a_budget_raise_cancel_with_a_confirmation_and_a_late_approval_is_a_plain_sentence()
    {
        using var api = fixture.Api();
        var admin = Open();
        admin.SignIn(fixture.AdminApiKey);

        // A job its budget stopped: the page says why and offers resume; the Admin page raises the budget.
        using (var created = await api.Http.PostAsJsonAsync("/api/projects", new { name = "Web budget stop", requirements = SampleRequirements.Clinic, budget_usd = 2.0m }))
        {
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        }
        var budgeted = await api.Http.GetFromJsonAsync<JsonObject>("/api/jobs?q=Web%20budget%20stop");
        var stoppedJob = Guid.Parse((string)budgeted!["items"]![0]!["job_id"]!);
        var projectId = Guid.Parse((string)budgeted["items"]![0]!["project_id"]!);
        await api.WaitForStatusAsync(stoppedJob, "waiting_for_approval");
        (await api.ActAsync(stoppedJob, "approve")).Dispose();
        await api.WaitForStatusAsync(stoppedJob, "failed");
        admin.Go($"/jobs/{stoppedJob}");
        admin.Until(() => admin.Exists("[data-interactive=true]"), TimeSpan.FromSeconds(15), "the job page connected");
        Assert.Contains("budget exceeded", admin.Text("[data-testid=status-line]"));
        // The interactive page loads usage after the job: wait for it rather than read once.
        admin.Until(() => admin.Text("[data-testid=cost]").Contains("of a $2.00 budget", StringComparison.Ordinal), TimeSpan.FromSeconds(15), "the cost against the budget");
        Assert.False(admin.Exists("button.danger"), "a failed job has no Cancel");

        admin.Go("/admin");
        var budget = admin.Find($"#budget-{projectId}");
        budget.Clear();
        budget.SendKeys("500");
        admin.Click($"form:has(#budget-{projectId}) button");
        admin.Until(() => decimal.TryParse(admin.Find($"#budget-{projectId}").GetAttribute("value"), System.Globalization.CultureInfo.InvariantCulture, out var saved) && saved == 500m,
            TimeSpan.FromSeconds(10), "the budget saved");
        Assert.Equal(500m, (decimal)(await api.Http.GetFromJsonAsync<JsonObject>($"/api/projects/{projectId}"))!["budget_usd"]!);

        admin.Go($"/jobs/{stoppedJob}");
        admin.Until(() => admin.Exists("[data-interactive=true]"), TimeSpan.FromSeconds(15), "the job page connected");
        admin.Click("[data-action=resume]");
        admin.Until(() => admin.Text(".page-head .badge") == "completed", TimeSpan.FromSeconds(90), "the resumed job completing on the page");
        Assert.Contains("by key:bootstrap", admin.Script("return document.querySelector('[data-event=job_resumed]').textContent;") as string);
        Assert.Contains("by key:bootstrap", admin.Script("return document.querySelector('[data-event=budget_changed]').textContent;") as string);

        // Cancel asks first, then the page shows the job canceled, by whom.
        var toCancel = await api.CreateProjectAsync("Web cancel");
        await api.WaitForStatusAsync(toCancel.JobId, "waiting_for_approval");
        admin.Go($"/jobs/{toCancel.JobId}");
        admin.Until(() => admin.Exists("[data-interactive=true]"), TimeSpan.FromSeconds(15), "the job page connected");
        admin.Click("[data-action=cancel]");
        admin.Until(() => admin.Text(".actions").Contains("Cancel this job?"), TimeSpan.FromSeconds(10), "the confirmation");
        Assert.Equal("waiting_for_approval", (string?)(await api.GetJobAsync(toCancel.JobId))["status"]); // nothing yet
        admin.Click("[data-action=confirm-cancel]");
        admin.Until(() => admin.Text(".page-head .badge") == "canceled", TimeSpan.FromSeconds(15), "the job canceled on the page");
        Assert.Contains("by key:bootstrap", admin.Script("return document.querySelector('[data-event=job_canceled]').textContent;") as string);

        // Someone else approved first: the confirmation answers with a plain sentence, not an error page.
        var raced = await api.CreateProjectAsync("Web late approval");
        await api.WaitForStatusAsync(raced.JobId, "waiting_for_approval");
        admin.Go($"/jobs/{raced.JobId}/prd?action=approve");
        (await api.ActAsync(raced.JobId, "approve")).Dispose();
        admin.Click(".decision button.primary");
        admin.Until(() => admin.Text("[role=alert]").Contains("no longer waits for approval"), TimeSpan.FromSeconds(10), "the 409 as a sentence");
    }

    [Fact]
    public async Task The_job_page_resumes_its_event_stream_after_the_api_restarts_and_misses_nothing()
    {
        using var api = fixture.Api();
        var job = await api.CreateProjectAsync("Web across an api restart");
        await api.WaitForStatusAsync(job.JobId, "waiting_for_approval");
        var browser = Open();
        browser.SignIn(fixture.AdminApiKey);
        browser.Go($"/jobs/{job.JobId}");
        browser.Until(() => browser.Exists("[data-interactive=true]") && browser.Text(".live").Contains("live"), TimeSpan.FromSeconds(15), "the job page connected");
        browser.MarkDocument();
        var before = browser.FindAll("[data-event]").Count;

        await AgentBusAppFixture.KillAsync(await fixture.PidOf("api"));
        await fixture.RestartAsync("api");
        using (var approve = await api.ActAsync(job.JobId, "approve"))
        {
            Assert.Equal(HttpStatusCode.OK, approve.StatusCode);
        }

        browser.Until(() => browser.Text(".page-head .badge") == "completed", Live, "the job completing on the page after the api came back");
        Assert.True(browser.SameDocument, "no reload");
        // Every event once, in order: the stream resumed after the last one it had (Last-Event-ID).
        var events = await fixture.EventsAsync(job.JobId);
        var shown = ((IEnumerable<object>)browser.Script("return Array.from(document.querySelectorAll('[data-event]')).map(e => e.dataset.event);")!)
            .Cast<string>().Reverse().ToList();
        Assert.True(shown.Count > before, "events after the restart are shown");
        Assert.Equal(events.Select(e => (string)e["type"]!), shown);
    }

    [Fact]
    public async Task With_the_keyboard_alone_a_person_signs_in_and_submits_a_project()
    {
        var browser = Open();
        browser.Go("/signin");
        browser.TabTo("#api-key");
        browser.Press(await KeyAsync("operator"));
        browser.Press(OpenQA.Selenium.Keys.Enter);
        browser.Until(() => browser.Path == "/", TimeSpan.FromSeconds(15), "signed in with Enter");

        browser.TabTo("main a[href='/projects/new']");
        browser.Press(OpenQA.Selenium.Keys.Enter);
        browser.Until(() => browser.Path == "/projects/new", TimeSpan.FromSeconds(15), "the new project form opened with Enter");
        browser.TabTo("#name");
        browser.Press("Keyboard only");
        browser.Press(OpenQA.Selenium.Keys.Tab); // to the requirements
        Assert.Equal("requirements", browser.Focused.GetAttribute("id"));
        browser.Press(SampleRequirements.Clinic);
        browser.TabTo("main form button[type=submit]");
        browser.Press(OpenQA.Selenium.Keys.Enter);
        browser.Until(() => browser.Path.StartsWith("/jobs/", StringComparison.Ordinal), TimeSpan.FromSeconds(15), "the job page after submitting with Enter");
        browser.Until(() => browser.Text("h1") == "Keyboard only", TimeSpan.FromSeconds(15), "the job page's heading");

        // A page opens with the focus on its heading (past the navigation); the skip link, first in
        // the page, moves the focus to the content, on this page (the PRD review: not the root).
        var page = browser.Path + "/prd";
        browser.Go(page);
        string FocusedText() => browser.Script("return document.activeElement?.innerText ?? '';") as string ?? "";
        browser.Until(() => browser.Script("return document.activeElement?.tagName;") as string == "H1", TimeSpan.FromSeconds(5), "the focus on the page's heading");
        for (var i = 0; i < 20 && FocusedText() != "Skip to content"; i++)
        {
            browser.Press(OpenQA.Selenium.Keys.Shift + OpenQA.Selenium.Keys.Tab);
        }
        Assert.Equal("Skip to content", FocusedText());
        browser.Press(OpenQA.Selenium.Keys.Enter);
        Assert.Equal("main", browser.Script("return document.activeElement?.id;"));
        Assert.Equal(page, browser.Path.Split('#')[0]);
    }

    /// <summary>How long after each stage_completed event the job page showed it (the goal: under 1 s).</summary>
    private async Task ReportStageLatencyAsync(Browser browser, Guid jobId)
    {
        var seen = ((IDictionary<string, object>)browser.Script("return window.__seen;")!).ToDictionary(p => p.Key, p => Convert.ToInt64(p.Value, System.Globalization.CultureInfo.InvariantCulture));
        var since = Convert.ToInt64(browser.Script("return window.__since;"), System.Globalization.CultureInfo.InvariantCulture);
        await using var connection = new Npgsql.NpgsqlConnection(await fixture.PostgresConnectionStringAsync());
        await connection.OpenAsync();
        await using var command = new Npgsql.NpgsqlCommand(
            "SELECT stage, (extract(epoch FROM created_at) * 1000)::bigint FROM job_events WHERE job_id = $1 AND type = 'stage_completed'", connection);
        command.Parameters.AddWithValue(jobId);
        var delays = new List<long>();
        await using (var reader = await command.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                // Stages that completed while the page watched (the PRD's came before the approval).
                if (seen.TryGetValue(reader.GetString(0), out var shown) && reader.GetInt64(1) >= since)
                {
                    delays.Add(shown - reader.GetInt64(1));
                }
            }
        }
        delays.Sort();
        var report = $"job page: stage_completed event -> shown on the page, {delays.Count} stages: " +
            $"median {delays[delays.Count / 2]} ms, max {delays[^1]} ms ({string.Join(", ", delays)})";
        TestContext.Current.SendDiagnosticMessage(report);
        TestContext.Current.TestOutputHelper?.WriteLine(report);
        Assert.True(delays.Count >= 5, report); // the first stages may complete before the observer starts
    }

    public void Dispose() => _sessions.Dispose();
}
