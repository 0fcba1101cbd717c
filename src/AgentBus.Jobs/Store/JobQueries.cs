using System.Text.Json;
using AgentBus.Data;
using AgentBus.Events;
using AgentBus.Jobs;
using AgentBus.Routing;
using Dapper;

namespace AgentBus.Store;

/// <summary>
/// Reads of projects, jobs, artifacts and events: what the API shows, and the inputs the workers
/// look up (similar PRDs, the active job count). Nothing here changes a job.
/// </summary>
public sealed class JobQueries(Database db)
{
    public Task<ProjectRow?> GetProjectAsync(Guid projectId, CancellationToken ct) =>
        db.QuerySingleOrDefaultAsync<ProjectRow>("project_get",
            $"SELECT {Columns.Project} FROM projects WHERE project_id = @projectId",
            new { projectId }, ct);

    /// <summary>
    /// A page of projects, newest first, each with its latest job (keyset, as the job list: the
    /// primary key walked backwards from <paramref name="before"/>, the last project of the previous
    /// page; project ids are UUIDv7, so they sort by creation time). Reads the listed columns only:
    /// a project's requirements (up to 100,000 characters) and metadata stay on disk.
    /// </summary>
    public Task<IReadOnlyList<ProjectListRow>> ListProjectsAsync(Guid? before, int limit, CancellationToken ct) =>
        db.QueryAsync<ProjectListRow>("project_list", ProjectPageSql, new { before, limit }, ct);

    /// <summary>How many projects there are: the first page of the list says so (later pages do not ask).</summary>
    public async Task<long> CountProjectsAsync(CancellationToken ct) =>
        await db.RunAsync("project_count", c => c.ExecuteScalarAsync<long>(new CommandDefinition("SELECT count(*) FROM projects", cancellationToken: ct)), ct);

    /// <summary>The statement of <see cref="ListProjectsAsync"/> (its parameters: @before, @limit).</summary>
    internal const string ProjectPageSql = """
        SELECT p.project_id, p.name, p.budget_usd, p.created_at,
               j.job_id, j.status AS job_status, j.stage AS job_stage, j.created_at AS job_created_at,
               j.updated_at AS job_updated_at, j.completed_at AS job_completed_at
        FROM (SELECT project_id, name, budget_usd, created_at FROM projects
              WHERE (@before::uuid IS NULL OR project_id < @before)
              ORDER BY project_id DESC
              LIMIT @limit) p
        LEFT JOIN LATERAL (SELECT job_id, status, stage, created_at, updated_at, completed_at FROM jobs
                           WHERE jobs.project_id = p.project_id ORDER BY created_at DESC LIMIT 1) j ON true
        ORDER BY p.project_id DESC
        """;

    /// <summary>
    /// A page of jobs, newest first (keyset: the primary key walked backwards from
    /// <see cref="JobFilter.Before"/>, so a page costs the same at job 100,000 as at job 1).
    /// </summary>
    public Task<IReadOnlyList<JobListRow>> ListJobsAsync(JobFilter filter, int limit, CancellationToken ct) =>
        db.QueryAsync<JobListRow>("job_list",
            """
            SELECT j.job_id, j.project_id, p.name AS project_name, j.status, j.stage, j.created_at, j.updated_at, j.completed_at,
                   (SELECT CASE WHEN bool_or(c.cost_usd IS NULL) THEN NULL ELSE coalesce(sum(c.cost_usd), 0) END
                    FROM llm_calls c WHERE c.job_id = j.job_id) AS cost_usd
            FROM jobs j JOIN projects p USING (project_id)
            WHERE (@status::text IS NULL OR j.status = @status)
              AND (@projectId::uuid IS NULL OR j.project_id = @projectId)
              AND (@pattern::text IS NULL OR p.name ILIKE @pattern ESCAPE '\')
              AND (@before::uuid IS NULL OR j.job_id < @before)
            ORDER BY j.job_id DESC
            LIMIT @limit
            """,
            new
            {
                status = filter.Status, projectId = filter.ProjectId, before = filter.Before, limit,
                // The name search is a substring match: the user's % and _ are literal characters.
                pattern = string.IsNullOrWhiteSpace(filter.Text) ? null
                    : "%" + filter.Text.Trim().Replace("\\", "\\\\", StringComparison.Ordinal).Replace("%", "\\%", StringComparison.Ordinal).Replace("_", "\\_", StringComparison.Ordinal) + "%",
            }, ct);

    public Task<JobRow?> GetLatestJobAsync(Guid projectId, CancellationToken ct) =>
        db.QuerySingleOrDefaultAsync<JobRow>("job_get",
            $"SELECT {Columns.Job} FROM jobs WHERE project_id = @projectId ORDER BY created_at DESC LIMIT 1", new { projectId }, ct);

    public Task<JobRow?> GetJobAsync(Guid jobId, CancellationToken ct) =>
        db.QuerySingleOrDefaultAsync<JobRow>("job_get", $"SELECT {Columns.Job} FROM jobs WHERE job_id = @jobId", new { jobId }, ct);

    /// <summary>
    /// A job with its stages and routing: the API's hottest read, so three statements sent as one
    /// batch on one connection (one round trip).
    /// </summary>
    public Task<JobDetail?> GetJobDetailAsync(Guid jobId, CancellationToken ct) =>
        db.RunAsync("job_detail", async c =>
        {
            await using var results = await c.QueryMultipleAsync(new SqlBatch()
                .Add(new($"SELECT {Columns.Job} FROM jobs WHERE job_id = @jobId;\nSELECT {Columns.StageRun} FROM stage_runs WHERE job_id = @jobId", new { jobId }))
                .Add(JobRouter.Read(jobId))
                .Command(ct: ct));
            var job = await results.ReadSingleOrDefaultAsync<JobRow>();
            var stages = (await results.ReadAsync<StageRunRow>()).AsList();
            var routing = await results.ReadSingleOrDefaultAsync<JobRouter.RoutingRow>();
            return job is null ? null : JobDetail.WithStages(job, stages, routing?.ToRouting());
        }, ct);

    public Task<IReadOnlyList<ArtifactSummary>> ListArtifactsAsync(Guid jobId, CancellationToken ct) =>
        db.QueryAsync<ArtifactSummary>("artifact_list",
            "SELECT type, version, content_type, length(content) AS size, created_at FROM artifacts WHERE job_id = @jobId ORDER BY created_at, type, version",
            new { jobId }, ct);

    /// <summary>The latest version of each of a job's artifacts, in no particular order.</summary>
    public Task<IReadOnlyList<ArtifactRow>> LatestArtifactsAsync(Guid jobId, CancellationToken ct) =>
        db.QueryAsync<ArtifactRow>("artifact_latest",
            "SELECT DISTINCT ON (type) type, version, content, content_type, created_at FROM artifacts WHERE job_id = @jobId ORDER BY type, version DESC",
            new { jobId }, ct);

    /// <summary>The given version of an artifact, or its latest when <paramref name="version"/> is null.</summary>
    public Task<ArtifactRow?> GetArtifactAsync(Guid jobId, string type, int? version, CancellationToken ct) =>
        db.QuerySingleOrDefaultAsync<ArtifactRow>("artifact_get",
            """
            SELECT type, version, content, content_type, created_at FROM artifacts
            WHERE job_id = @jobId AND type = @type AND (@version::int IS NULL OR version = @version)
            ORDER BY version DESC LIMIT 1
            """, new { jobId, type, version }, ct);

    public Task<IReadOnlyList<JobEvent>> GetEventsAsync(Guid jobId, int afterSeq, CancellationToken ct) =>
        db.RunAsync<IReadOnlyList<JobEvent>>("event_list", async c =>
            (await c.QueryAsync<(Guid JobId, int Seq, string Type, string? Stage, string Data, DateTime CreatedAt)>(new CommandDefinition(
                "SELECT job_id, seq, type, stage, data::text, created_at FROM job_events WHERE job_id = @jobId AND seq > @afterSeq ORDER BY seq",
                new { jobId, afterSeq }, cancellationToken: ct)))
            .Select(r => new JobEvent(r.JobId, r.Seq, r.Type, r.Stage, JsonSerializer.Deserialize<JsonElement>(r.Data), new DateTimeOffset(r.CreatedAt, TimeSpan.Zero)))
            .ToList(), ct);

    /// <summary>The job's last event number; 0 when it has none.</summary>
    public Task<int> LastEventSeqAsync(Guid jobId, CancellationToken ct) =>
        db.QuerySingleOrDefaultAsync<int>("event_last_seq", "SELECT coalesce(max(seq), 0) FROM job_events WHERE job_id = @jobId", new { jobId }, ct);

    /// <summary>The three earlier PRDs most similar to <paramref name="requirements"/>, by Postgres full-text rank (GIN index).</summary>
    public Task<IReadOnlyList<string>> SimilarPrdsAsync(Guid excludeJobId, string requirements, CancellationToken ct) =>
        db.QueryAsync<string>("prd_similar",
            """
            WITH terms AS (
              SELECT to_tsquery('simple', string_agg(quote_literal(lexeme), ' | ')) AS query
              FROM (SELECT lexeme FROM unnest(to_tsvector('english', left(@requirements, 20000)))
                    ORDER BY cardinality(positions) DESC, lexeme LIMIT 40) top_terms)
            SELECT a.content FROM artifacts a, terms
            WHERE a.search @@ terms.query AND a.job_id <> @excludeJobId
            ORDER BY ts_rank(a.search, terms.query) DESC, a.created_at DESC
            LIMIT 3
            """, new { excludeJobId, requirements }, ct);

    public async Task<long> CountActiveJobsAsync(CancellationToken ct) =>
        await db.RunAsync("job_count_active", c => c.ExecuteScalarAsync<long>(new CommandDefinition(
            "SELECT count(*) FROM jobs WHERE status IN ('queued', 'running', 'waiting_for_approval')", cancellationToken: ct)), ct);
}
