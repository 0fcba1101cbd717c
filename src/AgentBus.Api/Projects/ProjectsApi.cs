using System.Security.Claims;
using System.Text.Json;
using AgentBus.Api.Security;
using AgentBus.Jobs;
using AgentBus.Spend;
using AgentBus.Store;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;

namespace AgentBus.Api.Projects;

public static class ProjectsApi
{
    public const int MaxName = 200;
    public const int MaxRequirements = 100_000;
    public const int MaxMetadataBytes = 16_384;

    public static IEndpointRouteBuilder MapProjectsApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/projects").WithTags("Projects").RequireAuthorization(Roles.Viewer);
        group.MapPost("", CreateProject).RequireAuthorization(Roles.Operator).WithName("CreateProject").WithSummary("Submit a project's requirements; starts its job.");
        group.MapGet("", ListProjects).WithName("ListProjects").WithSummary("Projects, newest first, each with its latest job.");
        group.MapGet("/{project_id}", GetProject).WithName("GetProject").WithSummary("A project with its latest job.");
        group.MapPatch("/{project_id}", UpdateProject).RequireAuthorization(Roles.Admin).WithName("UpdateProject").WithSummary("Set or remove (null) the project's budget in USD.");
        group.MapPost("/{project_id}/jobs", Rerun).RequireAuthorization(Roles.Operator).WithName("RerunProject")
            .WithSummary("Run the project again as a new job, from its requirements as they are now.");
        group.MapGet("/{project_id}/jobs", ListJobs).WithName("ListProjectJobs").WithSummary("The project's jobs, newest first; page with before=next_before.");
        group.MapGet("/{project_id}/usage", GetUsage).WithName("GetProjectUsage").WithSummary("Tokens, calls and cost over all the project's jobs.");
        return app;
    }

    public static async Task<Results<Created<ProjectCreated>, ValidationProblem>> CreateProject(CreateProjectRequest request, JobCommands commands, CancellationToken ct)
    {
        var metadata = request.Metadata is { ValueKind: not JsonValueKind.Null and not JsonValueKind.Undefined } m ? m.GetRawText() : "{}";
        var check = new Validator()
            .Text(request.Name, "name", MaxName)
            .Text(request.Requirements, "requirements", MaxRequirements)
            .Require(request.Metadata is null || request.Metadata.Value.ValueKind is JsonValueKind.Object or JsonValueKind.Null, "metadata", "must be a JSON object")
            .Require(metadata.Length <= MaxMetadataBytes, "metadata", $"must be at most {MaxMetadataBytes} bytes")
            .Require(request.Metadata is not { } md || Storable(md), "metadata", "must not contain NUL characters (\\u0000) or unpaired surrogates")
            .Require(request.BudgetUsd is null or (>= 0 and <= 1_000_000), "budget_usd", "must be between 0 and 1000000");
        if (!check.Ok)
        {
            return Problems.Invalid(check.Errors);
        }
        var (projectId, jobId) = await commands.CreateAsync(request.Name!.Trim(), request.Requirements!, metadata, request.BudgetUsd, request.RequiresGpu, ct);
        return TypedResults.Created($"/api/projects/{projectId}", new ProjectCreated(projectId, jobId, JobStatus.Queued));
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
        [FromQuery] int limit = Paging.DefaultLimit, [FromQuery] int offset = 0)
    {
        var check = Paging.Check(limit, offset);
        if (!check.Ok)
        {
            return Problems.Invalid(check.Errors);
        }
        var (items, total) = await queries.ListProjectsAsync(limit, offset, ct);
        return TypedResults.Ok(new ProjectList(
            items.Select(i => new ProjectListItem(i.Project.ProjectId, i.Project.Name, i.Project.BudgetUsd, i.Project.CreatedAt,
                i.Job is { } j ? new JobSummary(j.JobId, j.Status, j.Stage, j.CreatedAt, j.UpdatedAt, j.CompletedAt) : null)).ToList(),
            total, limit, offset));
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
