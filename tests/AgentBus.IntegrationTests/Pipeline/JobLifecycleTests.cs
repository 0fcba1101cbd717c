using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace AgentBus.IntegrationTests.Pipeline;

[Collection(AppHostCollection.Name)]
public sealed class JobLifecycleTests(AppHostFixture fixture)
{
    [Fact]
    public async Task A_project_runs_through_approval_to_completed_with_eleven_artifacts()
    {
        using var api = fixture.Api();
        var (projectId, jobId) = await api.CreateProjectAsync("Clinic booking");

        var waiting = await api.WaitForStatusAsync(jobId, "waiting_for_approval");
        Assert.Equal("prd", (string?)waiting["stage"]);
        var prd = (string)(await api.ArtifactAsync(jobId, "prd"))["content"]!;
        foreach (var section in new[] { "## Problem", "## Users", "## Goals", "## Scope", "## Requirements", "## Acceptance criteria", "## Risks" })
        {
            Assert.Contains(section, prd);
        }
        Assert.Contains("FR-1: Patients must be able to book appointments online.", prd);
        Assert.Contains("GDPR", prd);
        Assert.Equal("pending", (string?)waiting["stages"]!.AsArray().Single(s => (string?)s!["stage"] == "plan")!["status"]);

        using (var approve = await api.ActAsync(jobId, "approve", new { notes = "Looks right" }))
        {
            Assert.Equal(HttpStatusCode.OK, approve.StatusCode);
        }
        var job = await api.WaitForStatusAsync(jobId, "completed");

        Assert.Equal(projectId, Guid.Parse((string)job["project_id"]!));
        Assert.NotNull((string?)job["completed_at"]);
        var stages = job["stages"]!.AsArray();
        Assert.Equal(AgentBus.Jobs.Pipeline.Stages.Select(s => s.Name), stages.Select(s => (string)s!["stage"]!));
        Assert.All(stages, s =>
        {
            Assert.Equal("completed", (string?)s!["status"]);
            Assert.Equal(1, (int)s["attempts"]!);
            Assert.True(DateTime.Parse((string)s["completed_at"]!) >= DateTime.Parse((string)s["started_at"]!));
        });

        var artifacts = await api.ArtifactsAsync(jobId);
        Assert.Equal(AgentBus.Jobs.Pipeline.ArtifactTypes.Order(), artifacts.Select(a => (string)a!["type"]!).Order());
        Assert.All(artifacts, a => Assert.Equal(1, (int)a!["version"]!));

        using var plan = JsonDocument.Parse((string)(await api.ArtifactAsync(jobId, "plan"))["content"]!);
        var tasks = plan.RootElement.GetProperty("milestones").EnumerateArray().SelectMany(m => m.GetProperty("tasks").EnumerateArray()).ToList();
        foreach (var fr in new[] { "FR-1", "FR-2", "FR-3", "FR-4" })
        {
            Assert.Contains(tasks, t => t.GetProperty("requirements").EnumerateArray().Any(r => r.GetString() == fr));
        }

        // All of them as one zip, numbered in pipeline order, each the same text as the API serves.
        using (var download = await api.Http.GetAsync($"/api/jobs/{jobId}/artifacts.zip"))
        {
            Assert.Equal(HttpStatusCode.OK, download.StatusCode);
            Assert.Equal("application/zip", download.Content.Headers.ContentType?.MediaType);
            using var zip = new System.IO.Compression.ZipArchive(await download.Content.ReadAsStreamAsync());
            Assert.Equal(AgentBus.Jobs.Pipeline.Stages.Select((s, i) => $"{i + 1:00}-{s.Name}.{(s.ContentType == "application/json" ? "json" : "md")}"),
                zip.Entries.Select(e => e.FullName));
            using var prdFile = new StreamReader(zip.GetEntry("01-prd.md")!.Open());
            Assert.Equal(prd, await prdFile.ReadToEndAsync());
        }
        using (var none = await api.Http.GetAsync($"/api/jobs/{Guid.NewGuid()}/artifacts.zip"))
        {
            await AgentBusClient.ProblemAsync(none, HttpStatusCode.NotFound);
        }

        using var delivery = JsonDocument.Parse((string)(await api.ArtifactAsync(jobId, "delivery"))["content"]!);
        Assert.True(delivery.RootElement.GetProperty("complete").GetBoolean());
        Assert.Equal(10, delivery.RootElement.GetProperty("artifacts").GetArrayLength());
        var review = (string)(await api.ArtifactAsync(jobId, "pm_review"))["content"]!;
        Assert.Contains("| FR-4 | yes | yes | yes | yes |", review);
    }

    [Fact]
    public async Task Request_changes_regenerates_the_prd_as_version_2_and_waits_again()
    {
        using var api = fixture.Api();
        var (_, jobId) = await api.CreateProjectAsync("Clinic booking with changes");
        await api.WaitForStatusAsync(jobId, "waiting_for_approval");

        using (var missingNotes = await api.ActAsync(jobId, "request-changes", new { notes = " " }))
        {
            var problem = await AgentBusClient.ProblemAsync(missingNotes, HttpStatusCode.BadRequest);
            Assert.NotNull(problem["errors"]!["notes"]);
        }
        using (var changes = await api.ActAsync(jobId, "request-changes", new { notes = "Add SMS reminders as well. Support two languages." }))
        {
            Assert.Equal(HttpStatusCode.OK, changes.StatusCode);
        }
        await AgentBusAppFixture.EventuallyAsync(() => api.ArtifactsAsync(jobId), a => a.Count(x => (string?)x!["type"] == "prd") == 2,
            TimeSpan.FromSeconds(30), "PRD version 2");
        var job = await api.WaitForStatusAsync(jobId, "waiting_for_approval");

        var v2 = await api.ArtifactAsync(jobId, "prd");
        Assert.Equal(2, (int)v2["version"]!);
        Assert.Contains("## Changes in this version", (string)v2["content"]!);
        Assert.Contains("Add SMS reminders as well.", (string)v2["content"]!);
        Assert.Equal(1, (int)(await api.ArtifactAsync(jobId, "prd", version: 1))["version"]!);
        Assert.DoesNotContain("## Changes in this version", (string)(await api.ArtifactAsync(jobId, "prd", version: 1))["content"]!);
        Assert.Equal(2, (int)job["stages"]!.AsArray().Single(s => (string?)s!["stage"] == "prd")!["attempts"]!);
        Assert.Equal(["prd", "prd"], (await api.ArtifactsAsync(jobId)).Select(a => (string)a!["type"]!));
    }

    [Fact]
    public async Task Reject_ends_the_job_and_later_actions_conflict()
    {
        using var api = fixture.Api();
        var (_, jobId) = await api.CreateProjectAsync("Rejected idea");
        await api.WaitForStatusAsync(jobId, "waiting_for_approval");

        using (var reject = await api.ActAsync(jobId, "reject", new { reason = "Out of budget" }))
        {
            Assert.Equal(HttpStatusCode.OK, reject.StatusCode);
        }
        var job = await api.GetJobAsync(jobId);
        Assert.Equal("rejected", (string?)job["status"]);
        Assert.NotNull((string?)job["completed_at"]);
        Assert.All(job["stages"]!.AsArray().Where(s => (string?)s!["stage"] != "prd"), s => Assert.Equal("canceled", (string?)s!["status"]));

        foreach (var action in new[] { "approve", "reject", "cancel" })
        {
            using var late = await api.ActAsync(jobId, action);
            var problem = await AgentBusClient.ProblemAsync(late, HttpStatusCode.Conflict);
            Assert.Equal("rejected", (string?)problem["job_status"]);
        }
        Assert.Single(await api.ArtifactsAsync(jobId));
    }

    [Fact]
    public async Task Approving_a_completed_job_conflicts_and_reruns_nothing()
    {
        using var api = fixture.Api();
        var (_, jobId) = await api.RunJobAsync("Approve twice");
        var before = await api.ArtifactsAsync(jobId);

        using var again = await api.ActAsync(jobId, "approve");
        var problem = await AgentBusClient.ProblemAsync(again, HttpStatusCode.Conflict);
        Assert.Equal("completed", (string?)problem["job_status"]);
        Assert.Contains("waiting_for_approval", (string?)problem["detail"]);

        await Task.Delay(1000);
        Assert.Equal("completed", (string?)(await api.GetJobAsync(jobId))["status"]);
        Assert.Equal(before.Count, (await api.ArtifactsAsync(jobId)).Count);
    }

    [Theory]
    [InlineData("""{"name":"","requirements":"x"}""", "name")]
    [InlineData("""{"name":"ok"}""", "requirements")]
    [InlineData("""{"name":"ok","requirements":"   "}""", "requirements")]
    [InlineData("""{"name":"ok","requirements":"x","metadata":[1]}""", "metadata")]
    [InlineData("""{"name":"ok","requirements":"x","budget_usd":-1}""", "budget_usd")]
    public async Task Invalid_projects_get_400_with_the_field_named(string body, string field)
    {
        using var api = fixture.Api();
        using var response = await api.Http.PostAsync("/api/projects", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));
        var problem = await AgentBusClient.ProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.NotNull(problem["errors"]![field]);
    }

    [Fact]
    public async Task Length_limits_are_enforced_at_their_edges()
    {
        using var api = fixture.Api();
        using var longName = await api.Http.PostAsJsonAsync("/api/projects", new { name = new string('n', 201), requirements = "x" });
        Assert.NotNull((await AgentBusClient.ProblemAsync(longName, HttpStatusCode.BadRequest))["errors"]!["name"]);
        using var longRequirements = await api.Http.PostAsJsonAsync("/api/projects", new { name = "n", requirements = new string('r', 100_001) });
        Assert.NotNull((await AgentBusClient.ProblemAsync(longRequirements, HttpStatusCode.BadRequest))["errors"]!["requirements"]);
        using var maxName = await api.Http.PostAsJsonAsync("/api/projects", new { name = new string('n', 200), requirements = "Users must log in." });
        Assert.Equal(HttpStatusCode.Created, maxName.StatusCode);
    }

    [Theory]
    [InlineData("{\"name\":\"x\",", "$")]
    [InlineData("{\"name\":\"x\",\"requirements\":5}", "$.requirements")]
    public async Task Malformed_json_gets_400_naming_where(string body, string path)
    {
        using var api = fixture.Api();
        using var response = await api.Http.PostAsync("/api/projects", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));
        var problem = await AgentBusClient.ProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.Contains(path, (string?)problem["detail"]);
    }

    [Theory]
    [InlineData(0, 0)]
    [InlineData(201, 0)]
    [InlineData(10, -1)]
    public async Task Paging_out_of_bounds_gets_400(int limit, int offset)
    {
        using var api = fixture.Api();
        using var response = await api.Http.GetAsync($"/api/projects?limit={limit}&offset={offset}");
        await AgentBusClient.ProblemAsync(response, HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task Projects_page_newest_first_with_their_latest_job()
    {
        using var api = fixture.Api();
        var first = await api.CreateProjectAsync("Paging one");
        var second = await api.CreateProjectAsync("Paging two");
        var page = (await api.Http.GetFromJsonAsync<JsonObject>("/api/projects?limit=2&offset=0"))!;
        Assert.True((long)page["total"]! >= 2);
        var items = page["items"]!.AsArray();
        Assert.Equal([second.ProjectId, first.ProjectId], items.Select(i => Guid.Parse((string)i!["project_id"]!)));
        Assert.Equal(second.JobId, Guid.Parse((string)items[0]!["latest_job"]!["job_id"]!));

        var project = (await api.Http.GetFromJsonAsync<JsonObject>($"/api/projects/{first.ProjectId}"))!;
        Assert.Equal("Paging one", (string?)project["name"]);
        Assert.Equal(first.JobId, Guid.Parse((string)project["latest_job"]!["job_id"]!));
        Assert.Equal(11, project["latest_job"]!["stages"]!.AsArray().Count);
    }

    [Theory]
    [InlineData("GET", "/api/projects/{id}")]
    [InlineData("GET", "/api/jobs/{id}")]
    [InlineData("GET", "/api/jobs/{id}/artifacts")]
    [InlineData("GET", "/api/jobs/{id}/artifacts/prd")]
    [InlineData("GET", "/api/jobs/{id}/events")]
    [InlineData("POST", "/api/jobs/{id}/approve")]
    [InlineData("POST", "/api/jobs/{id}/request-changes")]
    [InlineData("POST", "/api/jobs/{id}/reject")]
    [InlineData("POST", "/api/jobs/{id}/cancel")]
    public async Task Unknown_ids_get_404(string method, string route)
    {
        using var api = fixture.Api();
        using var request = new HttpRequestMessage(new HttpMethod(method), route.Replace("{id}", Guid.NewGuid().ToString()));
        if (method == "POST")
        {
            request.Content = JsonContent.Create(new { notes = "n" });
        }
        using var response = await api.Http.SendAsync(request);
        await AgentBusClient.ProblemAsync(response, HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task An_unknown_artifact_type_is_a_400_and_a_missing_one_a_404()
    {
        using var api = fixture.Api();
        var (_, jobId) = await api.CreateProjectAsync("Artifacts");
        await api.WaitForStatusAsync(jobId, "waiting_for_approval");
        using var unknown = await api.Http.GetAsync($"/api/jobs/{jobId}/artifacts/passwords");
        Assert.NotNull((await AgentBusClient.ProblemAsync(unknown, HttpStatusCode.BadRequest))["errors"]!["type"]);
        using var notYet = await api.Http.GetAsync($"/api/jobs/{jobId}/artifacts/plan");
        await AgentBusClient.ProblemAsync(notYet, HttpStatusCode.NotFound);
        using var noVersion = await api.Http.GetAsync($"/api/jobs/{jobId}/artifacts/prd?version=7");
        await AgentBusClient.ProblemAsync(noVersion, HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task The_job_list_filters_searches_and_pages_newest_first()
    {
        using var api = fixture.Api();
        var tag = "catalogue" + Guid.NewGuid().ToString("N")[..8];
        var created = new List<(Guid ProjectId, Guid JobId)>();
        foreach (var n in new[] { "one", "two", "three" })
        {
            created.Add(await api.CreateProjectAsync($"Catalogue {tag} {n}"));
        }
        var newestFirst = created.Select(c => c.JobId).Reverse().ToList();
        async Task<JsonObject> ListAsync(string query) => (await api.Http.GetFromJsonAsync<JsonObject>("/api/jobs?" + query))!;
        static List<Guid> Ids(JsonObject page) => [.. page["items"]!.AsArray().Select(i => (Guid)i!["job_id"]!)];

        var all = await ListAsync($"q={tag}");
        Assert.Equal(newestFirst, Ids(all));
        Assert.All(all["items"]!.AsArray(), i => Assert.StartsWith($"Catalogue {tag}", (string)i!["project_name"]!));
        Assert.Null(all["next_before"]);

        // Keyset pages: the first ends with a cursor, the second starts after it and is the last.
        var first = await ListAsync($"q={tag}&limit=2");
        Assert.Equal(newestFirst[..2], Ids(first));
        Assert.Equal(newestFirst[1], (Guid)first["next_before"]!);
        var second = await ListAsync($"q={tag}&limit=2&before={newestFirst[1]}");
        Assert.Equal(newestFirst[2..], Ids(second));
        Assert.Null(second["next_before"]);

        // The search ignores case and takes % literally; the status filter narrows; a project's history is its own.
        Assert.Equal(newestFirst, Ids(await ListAsync($"q={tag.ToUpperInvariant()}")));
        Assert.Empty(Ids(await ListAsync($"q={tag}%25")));
        Assert.Empty(Ids(await ListAsync($"q={tag}&status=rejected")));
        Assert.Equal([created[0].JobId], Ids((await api.Http.GetFromJsonAsync<JsonObject>($"/api/projects/{created[0].ProjectId}/jobs"))!));

        // A re-run is a new job of the same project: first in the project's history, the older one kept.
        using (var rerun = await api.Http.PostAsJsonAsync($"/api/projects/{created[0].ProjectId}/jobs", new { }))
        {
            Assert.Equal(HttpStatusCode.Created, rerun.StatusCode);
            var started = (await rerun.Content.ReadFromJsonAsync<JsonObject>())!;
            var rerunJob = (Guid)started["job_id"]!;
            Assert.Equal($"/api/jobs/{rerunJob}", rerun.Headers.Location?.ToString());
            Assert.Equal([rerunJob, created[0].JobId], Ids((await api.Http.GetFromJsonAsync<JsonObject>($"/api/projects/{created[0].ProjectId}/jobs"))!));
            Assert.Equal("prd", (string?)(await api.WaitForStatusAsync(rerunJob, "waiting_for_approval"))["stage"]);
        }
        using var rerunUnknown = await api.Http.PostAsJsonAsync($"/api/projects/{Guid.NewGuid()}/jobs", new { });
        await AgentBusClient.ProblemAsync(rerunUnknown, HttpStatusCode.NotFound);
        using var badStatus = await api.Http.GetAsync("/api/jobs?status=done");
        Assert.NotNull((await AgentBusClient.ProblemAsync(badStatus, HttpStatusCode.BadRequest))["errors"]!["status"]);
        using var unknownProject = await api.Http.GetAsync($"/api/projects/{Guid.NewGuid()}/jobs");
        await AgentBusClient.ProblemAsync(unknownProject, HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task The_openapi_document_lists_every_route_and_the_api_page_answers()
    {
        using var api = fixture.Api();
        using var openapi = JsonDocument.Parse(await api.Http.GetStringAsync("/openapi/v1.json"));
        var paths = openapi.RootElement.GetProperty("paths").EnumerateObject().Select(p => p.Name).ToHashSet();
        foreach (var path in new[] { "/api/projects", "/api/projects/{project_id}", "/api/projects/{project_id}/jobs", "/api/jobs", "/api/jobs/{job_id}", "/api/jobs/{job_id}/artifacts",
                     "/api/jobs/{job_id}/artifacts/{type}", "/api/jobs/{job_id}/approve", "/api/jobs/{job_id}/request-changes",
                     "/api/jobs/{job_id}/reject", "/api/jobs/{job_id}/cancel", "/api/jobs/{job_id}/events" })
        {
            Assert.Contains(path, paths);
        }
        // A real title and introduction, and both ways in, so /docs can send a key or a token.
        var document = openapi.RootElement;
        Assert.Equal("Agent Bus API", document.GetProperty("info").GetProperty("title").GetString());
        Assert.Contains("X-Api-Key", document.GetProperty("info").GetProperty("description").GetString());
        var schemes = document.GetProperty("components").GetProperty("securitySchemes");
        Assert.Equal(("apiKey", "header", "X-Api-Key"), (schemes.GetProperty("ApiKey").GetProperty("type").GetString(),
            schemes.GetProperty("ApiKey").GetProperty("in").GetString(), schemes.GetProperty("ApiKey").GetProperty("name").GetString()));
        Assert.Equal(("http", "bearer"), (schemes.GetProperty("Bearer").GetProperty("type").GetString(), schemes.GetProperty("Bearer").GetProperty("scheme").GetString()));
        Assert.Equal(["ApiKey", "Bearer"], document.GetProperty("security").EnumerateArray().Select(r => r.EnumerateObject().Single().Name));
        using var page = await api.Http.GetAsync("/docs");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Contains("text/html", page.Content.Headers.ContentType?.MediaType);
    }
}
