using System.ComponentModel;
using System.Globalization;
using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using AgentBus.Api.Security;
using AgentBus.Jobs;
using AgentBus.Spend;
using AgentBus.Store;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;

namespace AgentBus.Api.Projects;

public static class ProjectsApi
{
    public const int MaxName = 200;
    public const int MaxRequirements = 100_000;
    public const int MaxMetadataBytes = 16_384;

    /// <summary>The request header that makes a submission safe to retry.</summary>
    public const string IdempotencyKeyHeader = "Idempotency-Key";

    /// <summary>Set (to true) on the answer to a request whose Idempotency-Key had already created its project.</summary>
    public const string IdempotentReplayedHeader = "Idempotent-Replayed";

    public const int MaxIdempotencyKey = 255;

    public static IEndpointRouteBuilder MapProjectsApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/projects").WithTags("Projects").RequireAuthorization(Roles.Viewer);
        group.MapPost("", CreateProject).RequireAuthorization(Roles.Operator).WithName("CreateProject")
            .WithSummary("Submit a project's requirements; starts its job. Safe to retry with an Idempotency-Key.")
            .ProducesProblem(StatusCodes.Status422UnprocessableEntity);
        group.MapGet("", ListProjects).WithName("ListProjects")
            .WithSummary("Projects, newest first, each with its latest job; page with before=next_before (total on the first page only).");
        group.MapGet("/{project_id}", GetProject).WithName("GetProject").WithSummary("A project with its latest job.");
        group.MapDelete("/{project_id}", DeleteProject).RequireAuthorization(Roles.Admin).WithName("DeleteProject")
            .WithSummary("Erase the project and everything derived from it (a privacy request); its unfinished jobs stop.")
            .WithDescription("Admin only. Removes the project, its jobs, stage runs, artifacts (every version), events, model calls, routing, "
                + "queued tasks, idempotency keys and dead letters, in one transaction, and cannot be undone. Unfinished jobs need no cancel first: "
                + "their running stages are stopped and nothing they finish is stored. The model calls' cost is kept only as an anonymous daily sum "
                + "(day, agent, provider, model). 204 when erased; 404 for an unknown project.")
            .ProducesProblem(StatusCodes.Status404NotFound);
        group.MapPatch("/{project_id}", UpdateProject).RequireAuthorization(Roles.Admin).WithName("UpdateProject").WithSummary("Set or remove (null) the project's budget in USD.");
        group.MapPost("/{project_id}/jobs", Rerun).RequireAuthorization(Roles.Operator).WithName("RerunProject")
            .WithSummary("Run the project again as a new job, from its requirements as they are now.");
        group.MapGet("/{project_id}/jobs", ListJobs).WithName("ListProjectJobs").WithSummary("The project's jobs, newest first; page with before=next_before.");
        group.MapGet("/{project_id}/usage", GetUsage).WithName("GetProjectUsage").WithSummary("Tokens, calls and cost over all the project's jobs.");
        return app;
    }

    public static async Task<Results<Created<ProjectCreated>, ValidationProblem, ProblemHttpResult>> CreateProject(
        CreateProjectRequest request, JobCommands commands, ClaimsPrincipal user, HttpResponse response, IOptions<ProjectOptions> projects, CancellationToken ct,
        [FromHeader(Name = IdempotencyKeyHeader)]
        [Description("Makes the submission safe to retry: 1 to 255 letters, digits and - _ . : ~ (a UUID is fine; an RFC 8941 quoted string is "
            + "accepted too). For 24 hours the same key from the same caller with the same request answers what the first request did "
            + "(201, the same body and Location, header Idempotent-Replayed: true) and starts no second job; with another request it answers 422.")]
        string? idempotencyKey = null)
    {
        var metadata = request.Metadata is { ValueKind: not JsonValueKind.Null and not JsonValueKind.Undefined } m ? m.GetRawText() : "{}";
        var key = idempotencyKey is null ? null : Unquoted(idempotencyKey);
        var check = new Validator()
            .Text(request.Name, "name", MaxName)
            .Text(request.Requirements, "requirements", MaxRequirements)
            .Require(request.Metadata is null || request.Metadata.Value.ValueKind is JsonValueKind.Object or JsonValueKind.Null, "metadata", "must be a JSON object")
            .Require(metadata.Length <= MaxMetadataBytes, "metadata", $"must be at most {MaxMetadataBytes} bytes")
            .Require(request.Metadata is not { } md || Storable(md), "metadata", "must not contain NUL characters (\\u0000) or unpaired surrogates")
            .Require(request.BudgetUsd is null or (>= 0 and <= 1_000_000), "budget_usd", "must be between 0 and 1000000")
            .Require(key is null || ValidKey(key), IdempotencyKeyHeader, $"must be 1 to {MaxIdempotencyKey} letters, digits and - _ . : ~");
        if (!check.Ok)
        {
            return Problems.Invalid(check.Errors);
        }
        // A budget is a limit the admins own: others may only ask for less than the default, never for more or for none.
        var defaultBudget = projects.Value.DefaultBudgetUsd;
        if (request.BudgetUsd is { } asked && !user.IsInRole(Roles.Admin) && !(asked <= defaultBudget))
        {
            return TypedResults.Problem(statusCode: StatusCodes.Status403Forbidden, title: "Forbidden",
                detail: defaultBudget is { } most
                    ? $"A budget above the default of ${most:0.00##} needs the admin role; leave budget_usd out for the default."
                    : "Setting a budget needs the admin role.");
        }
        var idempotency = key is null ? null : new IdempotencyKey(Roles.Actor(user), key, RequestHash(request, metadata));
        var created = await commands.CreateAsync(request.Name!.Trim(), request.Requirements!, metadata, request.BudgetUsd ?? defaultBudget, request.RequiresGpu,
            idempotency, ct);
        switch (created.Outcome)
        {
            case CreationOutcome.KeyReused:
                return TypedResults.Problem(statusCode: StatusCodes.Status422UnprocessableEntity, title: "Idempotency-Key already used",
                    detail: $"This {IdempotencyKeyHeader} was used with a different request in the last {(int)IdempotencyKey.Lifetime.TotalHours} hours; "
                        + "nothing was created. Send a new key with a new request.");
            case CreationOutcome.Replayed:
                response.Headers[IdempotentReplayedHeader] = "true";
                break;
        }
        return TypedResults.Created($"/api/projects/{created.ProjectId}", new ProjectCreated(created.ProjectId, created.JobId, JobStatus.Queued));
    }

    /// <summary>An RFC 8941 string ("...") as the draft Idempotency-Key header defines it, or the bare key most clients send.</summary>
    private static string Unquoted(string value) =>
        value.Length >= 2 && value[0] == '"' && value[^1] == '"' ? value[1..^1] : value;

    private static bool ValidKey(string key) =>
        key.Length is >= 1 and <= MaxIdempotencyKey && key.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or ':' or '~');

    /// <summary>
    /// What makes two submissions the same request: every field as it would be stored (metadata
    /// compacted, the budget without trailing zeros), in a JSON array so no two differ only in how
    /// they were split; SHA-256, hex.
    /// </summary>
    private static string RequestHash(CreateProjectRequest request, string metadata)
    {
        var compactMetadata = JsonSerializer.Serialize(JsonSerializer.Deserialize<JsonElement>(metadata));
        var budget = request.BudgetUsd?.ToString("0.############################", CultureInfo.InvariantCulture);
        var fields = JsonSerializer.Serialize(new object?[] { request.Name, request.Requirements, compactMetadata, budget, request.RequiresGpu });
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(fields)));
    }

    /// <summary>
    /// Whether Postgres's jsonb can store the value: it refuses \u0000 and unpaired surrogates,
    /// which are valid JSON escapes, so without this check they fail the insert as a 500.
    /// </summary>
    private static bool Storable(JsonElement value)
    {
        static bool Text(string? s) => s is not null && !s.Contains('\0', StringComparison.Ordinal);
        try
        {
            return value.ValueKind switch
            {
                JsonValueKind.String => Text(value.GetString()),
                JsonValueKind.Object => value.EnumerateObject().All(p => Text(p.Name) && Storable(p.Value)),
                JsonValueKind.Array => value.EnumerateArray().All(Storable),
                _ => true,
            };
        }
        catch (InvalidOperationException)
        {
            return false; // an unpaired surrogate escape cannot be read as a string
        }
    }

    public static async Task<Results<Ok<ProjectList>, ValidationProblem>> ListProjects(JobQueries queries, CancellationToken ct,
        [FromQuery] Guid? before = null, [FromQuery] int limit = Paging.DefaultLimit, [FromQuery] int offset = 0)
    {
        // offset stays accepted as 0 (the first page) for clients of the limit/offset list; any other
        // offset is refused rather than ignored, so no client loops over its first page.
        var check = Paging.Check(limit, 0)
            .Require(offset == 0, "offset", "must be 0: page with before=<next_before of the previous page> instead of an offset");
        if (!check.Ok)
        {
            return Problems.Invalid(check.Errors);
        }
        var rows = await queries.ListProjectsAsync(before, limit, ct);
        long? total = before is null ? await queries.CountProjectsAsync(ct) : null;
        return TypedResults.Ok(new ProjectList(
            rows.Select(p => new ProjectListItem(p.ProjectId, p.Name, p.BudgetUsd, p.CreatedAt,
                p.JobId is { } jobId ? new JobSummary(jobId, p.JobStatus!, p.JobStage, p.JobCreatedAt!.Value, p.JobUpdatedAt!.Value, p.JobCompletedAt) : null)).ToList(),
            limit, rows.Count == limit ? rows[^1].ProjectId : null, total));
    }

    public static async Task<Results<Ok<ProjectDetail>, ProblemHttpResult>> GetProject(Guid project_id, JobQueries queries, CancellationToken ct)
    {
        if (await queries.GetProjectAsync(project_id, ct) is not { } project)
        {
            return Problems.NotFound("project", project_id);
        }
        var job = await queries.GetLatestJobAsync(project_id, ct);
        var latest = job is null ? null : await queries.GetJobDetailAsync(job.JobId, ct) is { } detail ? Jobs.JobsApi.ToResponse(detail) : null;
        return TypedResults.Ok(new ProjectDetail(project.ProjectId, project.Name, project.Requirements,
            JsonSerializer.Deserialize<JsonElement>(project.Metadata), project.BudgetUsd, project.CreatedAt, project.UpdatedAt, latest));
    }

    public static async Task<Results<NoContent, ProblemHttpResult>> DeleteProject(Guid project_id, ProjectErasure erasure, ClaimsPrincipal user, CancellationToken ct) =>
        await erasure.EraseAsync(project_id, Roles.Actor(user), ct) is null ? Problems.NotFound("project", project_id) : TypedResults.NoContent();

    public static async Task<Results<Ok<ProjectBudget>, ProblemHttpResult, ValidationProblem>> UpdateProject(
        Guid project_id, UpdateProjectRequest request, JobCommands commands, ClaimsPrincipal user, CancellationToken ct)
    {
        var check = new Validator().Require(request.BudgetUsd is null or (>= 0 and <= 1_000_000), "budget_usd", "must be between 0 and 1000000, or null to remove the budget");
        if (!check.Ok)
        {
            return Problems.Invalid(check.Errors);
        }
        return await commands.UpdateBudgetAsync(project_id, request.BudgetUsd, Roles.Actor(user), ct)
            ? TypedResults.Ok(new ProjectBudget(project_id, request.BudgetUsd))
            : Problems.NotFound("project", project_id);
    }

    public static async Task<Results<Ok<Jobs.JobList>, ProblemHttpResult, ValidationProblem>> ListJobs(Guid project_id, JobQueries queries, CancellationToken ct,
        [FromQuery] Guid? before = null, [FromQuery] int limit = Paging.DefaultLimit)
    {
        var check = Paging.Check(limit, 0);
        if (!check.Ok)
        {
            return Problems.Invalid(check.Errors);
        }
        return await queries.GetProjectAsync(project_id, ct) is null
            ? Problems.NotFound("project", project_id)
            : TypedResults.Ok(await Jobs.JobsApi.PageAsync(queries, new JobFilter(ProjectId: project_id, Before: before), limit, ct));
    }

    public static async Task<Results<Created<JobStarted>, ProblemHttpResult>> Rerun(
        Guid project_id, JobQueries queries, JobCommands commands, ClaimsPrincipal user, CancellationToken ct, RerunRequest? request = null)
    {
        if (await queries.GetProjectAsync(project_id, ct) is not { } project)
        {
            return Problems.NotFound("project", project_id);
        }
        var jobId = await commands.RerunAsync(project, request?.RequiresGpu, Roles.Actor(user), ct);
        return TypedResults.Created($"/api/jobs/{jobId}", new JobStarted(project_id, jobId, JobStatus.Queued));
    }

    public static async Task<Results<Ok<UsageResponse>, ProblemHttpResult>> GetUsage(Guid project_id, JobQueries queries, LlmSpend spend, CancellationToken ct) =>
        await queries.GetProjectAsync(project_id, ct) is { } project
            ? TypedResults.Ok(UsageResponse.From(await spend.UsageAsync(null, project_id, ct), project.BudgetUsd))
            : Problems.NotFound("project", project_id);
}
