using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using AgentBus.Store;
using Npgsql;
using NpgsqlTypes;

namespace AgentBus.IntegrationTests.Pipeline;

/// <summary>
/// GET /api/projects pages by keyset (issue 20, finding 8): before=next_before, as GET /api/jobs;
/// a walk sees every project once however many are added meanwhile; the statement reads no
/// requirements (Postgres's own plan says which columns each step outputs).
/// </summary>
[Collection(AppHostCollection.Name)]
public sealed class ProjectListTests(AppHostFixture fixture)
{
    [Fact]
    public async Task Keyset_pages_cover_every_project_exactly_once_while_projects_are_added()
    {
        using var api = fixture.Api();
        for (var i = 0; i < 12; i++)
        {
            await api.CreateProjectAsync($"Listed {i} {Guid.NewGuid():N}");
        }
        var existing = await ProjectIdsAsync();

        // Projects keep arriving (20 concurrent submissions at a time) while the pages are walked.
        using var adding = new CancellationTokenSource();
        var added = new System.Collections.Concurrent.ConcurrentQueue<Guid>();
        var submitting = Task.Run(async () =>
        {
            do
            {
                foreach (var (projectId, _) in await Task.WhenAll(Enumerable.Range(0, 20).Select(i => api.CreateProjectAsync($"Added meanwhile {Guid.NewGuid():N}"))))
                {
                    added.Enqueue(projectId);
                }
            }
            while (!adding.IsCancellationRequested);
        });

        var seen = new List<Guid>();
        Guid? before = null;
        var pages = 0;
        do
        {
            var page = (await api.Http.GetFromJsonAsync<JsonObject>($"/api/projects?limit=5{(before is { } b ? $"&before={b}" : "")}"))!;
            var items = page["items"]!.AsArray().Select(i => Guid.Parse((string)i!["project_id"]!)).ToList();
            Assert.Equal(5, (int)page["limit"]!);
            Assert.InRange(items.Count, 0, 5);
            // total on the first page only: later pages cost no count(*).
            if (pages == 0)
            {
                Assert.True((long)page["total"]! >= existing.Count);
            }
            else
            {
                Assert.Null(page["total"]);
            }
            seen.AddRange(items);
            before = page["next_before"] is { } next ? Guid.Parse((string)next!) : null;
            Assert.Equal(items.Count == 5, before is not null);
            if (before is not null)
            {
                Assert.Equal(items[^1], before);
            }
            pages++;
            if (pages == 2)
            {
                // Some submissions land between these pages for certain.
                await AgentBusAppFixture.EventuallyAsync(() => Task.FromResult(added.Count), c => c >= 20, TimeSpan.FromSeconds(30), "20 projects added");
            }
        }
        while (before is not null);
        await adding.CancelAsync();
        await submitting;

        Assert.True(added.Count >= 20, "projects were added during the walk");
        Assert.True(pages > 2, $"only {pages} pages");
        Assert.True(pages >= existing.Count / 5, $"{pages} pages for {existing.Count} projects");
        Assert.Equal(seen.Count, seen.Distinct().Count());
        Assert.Empty(existing.Except(seen));
    }

    [Fact]
    public async Task Pages_are_newest_first_with_the_latest_job_and_only_the_listed_fields()
    {
        using var api = fixture.Api();
        var first = await api.CreateProjectAsync($"Paged first {Guid.NewGuid():N}");
        var second = await api.CreateProjectAsync($"Paged second {Guid.NewGuid():N}");
        using (var rerun = await api.Http.PostAsJsonAsync($"/api/projects/{first.ProjectId}/jobs", new { }))
        {
            Assert.Equal(HttpStatusCode.Created, rerun.StatusCode);
        }

        var page = (await api.Http.GetFromJsonAsync<JsonObject>("/api/projects?limit=1"))!;
        var newest = page["items"]!.AsArray().Single()!.AsObject();
        Assert.Equal(second.ProjectId, Guid.Parse((string)newest["project_id"]!));
        Assert.Equal(["budget_usd", "created_at", "latest_job", "name", "project_id"], newest.Select(p => p.Key).Order(StringComparer.Ordinal));
        Assert.Equal(["completed_at", "created_at", "job_id", "stage", "status", "updated_at"],
            newest["latest_job"]!.AsObject().Select(p => p.Key).Order(StringComparer.Ordinal));
        Assert.Equal(second.JobId, Guid.Parse((string)newest["latest_job"]!["job_id"]!));

        var next = (await api.Http.GetFromJsonAsync<JsonObject>($"/api/projects?limit=1&before={page["next_before"]}"))!;
        var older = next["items"]!.AsArray().Single()!;
        Assert.Equal(first.ProjectId, Guid.Parse((string)older["project_id"]!));
        // The re-run is the first project's latest job.
        var jobs = (await api.Http.GetFromJsonAsync<JsonObject>($"/api/projects/{first.ProjectId}/jobs"))!;
        Assert.Equal((string?)jobs["items"]![0]!["job_id"], (string?)older["latest_job"]!["job_id"]);
        Assert.NotEqual(first.JobId, Guid.Parse((string)older["latest_job"]!["job_id"]!));
    }

    [Theory]
    [InlineData("offset=20", "offset")]
    [InlineData("offset=1000000", "offset")]
    [InlineData("before=not-a-uuid", null)]
    public async Task Offsets_other_than_zero_are_refused_pointing_to_before(string query, string? field)
    {
        using var api = fixture.Api();
        using var response = await api.Http.GetAsync($"/api/projects?limit=5&{query}");
        var problem = await AgentBusClient.ProblemAsync(response, HttpStatusCode.BadRequest);
        if (field is not null)
        {
            Assert.Contains("before=", problem["errors"]![field]![0]!.ToString());
        }
        // The first page, as the contract's limit/offset form asks for it, still answers.
        Assert.Equal(HttpStatusCode.OK, (await api.Http.GetAsync("/api/projects?limit=5&offset=0")).StatusCode);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task The_list_statement_reads_no_requirements_and_no_metadata(bool withBefore)
    {
        await using var connection = new NpgsqlConnection(await fixture.PostgresConnectionStringAsync());
        await connection.OpenAsync();
        // Postgres's plan of the api's own statement names the columns each step outputs.
        await using var explain = new NpgsqlCommand("EXPLAIN (VERBOSE, FORMAT JSON) " + JobQueries.ProjectPageSql, connection);
        explain.Parameters.Add(new NpgsqlParameter("before", NpgsqlDbType.Uuid) { Value = withBefore ? Guid.CreateVersion7() : DBNull.Value });
        explain.Parameters.Add(new NpgsqlParameter("limit", NpgsqlDbType.Integer) { Value = 200 });
        var plan = JsonNode.Parse((string)(await explain.ExecuteScalarAsync())!)!;
        var outputs = Outputs(plan).ToList();
        Assert.Contains(outputs, o => o.EndsWith(".name", StringComparison.Ordinal));
        Assert.Contains(outputs, o => o.EndsWith(".budget_usd", StringComparison.Ordinal));
        Assert.DoesNotContain(outputs, o => o.Contains("requirements", StringComparison.Ordinal) || o.Contains("metadata", StringComparison.Ordinal));
        // Keyset: no OFFSET to skip rows through, and the count is no part of a page.
        Assert.DoesNotContain("OFFSET", JobQueries.ProjectPageSql, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("count(", JobQueries.ProjectPageSql, StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>Every column any step of the plan outputs.</summary>
    private static IEnumerable<string> Outputs(JsonNode? node) => node switch
    {
        JsonObject o => (o["Output"] is JsonArray output ? output.Select(c => (string)c!) : [])
            .Concat(o.Where(p => p.Key != "Output").SelectMany(p => Outputs(p.Value))),
        JsonArray a => a.SelectMany(Outputs),
        _ => [],
    };

    private async Task<HashSet<Guid>> ProjectIdsAsync()
    {
        await using var connection = new NpgsqlConnection(await fixture.PostgresConnectionStringAsync());
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT project_id FROM projects", connection);
        var ids = new HashSet<Guid>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            ids.Add(reader.GetGuid(0));
        }
        return ids;
    }
}
