using System.Security.Claims;
using AgentBus.Api.Security;
using AgentBus.Jobs;
using AgentBus.Spend;
using AgentBus.Store;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;

namespace AgentBus.Api.Jobs;

public static class JobsApi
{
    public const int MaxNotes = 20_000;

    public static IEndpointRouteBuilder MapJobsApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/jobs").WithTags("Jobs").RequireAuthorization(Roles.Viewer);
        group.MapGet("", ListJobs).WithName("ListJobs")
            .WithSummary("Jobs, newest first: filter by status, project_id or text in the project's name; page with before=next_before.");
        group.MapGet("/{job_id}", GetJob).WithName("GetJob").WithSummary("A job with its stages.");
        group.MapGet("/{job_id}/artifacts", ListArtifacts).WithName("ListArtifacts").WithSummary("Every version of every artifact of a job.");
        group.MapGet("/{job_id}/artifacts.zip", DownloadArtifacts).WithName("DownloadArtifacts")
            .WithSummary("The latest version of every artifact as one zip: 01-prd.md, 02-plan.json, ... in pipeline order.");
        group.MapGet("/{job_id}/artifacts/{type}", GetArtifact).WithName("GetArtifact").WithSummary("An artifact's latest version, or ?version=n.");
        group.MapPost("/{job_id}/approve", Approve).RequireAuthorization(Roles.Operator).WithName("ApproveJob").WithSummary("Approve the PRD; the rest of the pipeline runs.");
        group.MapPost("/{job_id}/request-changes", RequestChanges).RequireAuthorization(Roles.Operator).WithName("RequestChanges").WithSummary("Regenerate the PRD from the notes, then wait again.");
        group.MapPost("/{job_id}/reject", Reject).RequireAuthorization(Roles.Operator).WithName("RejectJob").WithSummary("Reject the PRD; the job ends.");
        group.MapPost("/{job_id}/cancel", Cancel).RequireAuthorization(Roles.Operator).WithName("CancelJob").WithSummary("Cancel the job; running stages stop.");
        group.MapPost("/{job_id}/resume", Resume).RequireAuthorization(Roles.Operator).WithName("ResumeJob").WithSummary("Continue a job its budget stopped, from the stage that stopped.");
        group.MapGet("/{job_id}/usage", GetUsage).WithName("GetJobUsage").WithSummary("Tokens, calls and cost of the job, by agent and model.");
        group.MapGet("/{job_id}/events", JobEventStream.Stream).WithName("JobEvents").WithSummary("Server-sent events of the job; resumes after Last-Event-ID.");
        app.MapGet("/api/events", JobEventStream.StreamAll).WithTags("Jobs").RequireAuthorization(Roles.Viewer).WithName("AllJobEvents")
            .WithSummary("Server-sent events of every job, live only (no replay): a list of jobs knows when to refresh.");
        return app;
    }

    public static JobResponse ToResponse(JobDetail detail)
    {
        var job = detail.Job;
        return new(
            job.JobId, job.ProjectId, job.Status, job.Stage,
            job.ErrorCode is null && job.ErrorMessage is null ? null : new JobError(job.ErrorCode, job.ErrorMessage),
            job.CreatedAt, job.UpdatedAt, job.StartedAt, job.CompletedAt,
            detail.Stages.Select(s => new StageResponse(s.Stage, s.AgentType, s.Status, s.Attempts, s.Error, s.QueuedAt, s.StartedAt, s.CompletedAt)).ToList(),
            detail.Routing);
    }

    public const int MaxSearchText = 200;

    public static async Task<Results<Ok<JobList>, ValidationProblem>> ListJobs(JobQueries queries, CancellationToken ct,
        [FromQuery] string? status = null, [FromQuery(Name = "project_id")] Guid? projectId = null, [FromQuery] string? q = null,
        [FromQuery] Guid? before = null, [FromQuery] int limit = Paging.DefaultLimit)
    {
        var check = Paging.Check(limit, 0)
            .Require(status is null || JobStatus.All.Contains(status), "status", $"must be one of {string.Join(", ", JobStatus.All)}")
            .Require(q is null || q.Length <= MaxSearchText, "q", $"must be at most {MaxSearchText} characters")
            .Require(q is null || !q.Any(char.IsControl), "q", "must not contain control characters");
        return check.Ok ? TypedResults.Ok(await PageAsync(queries, new JobFilter(status, projectId, q, before), limit, ct)) : Problems.Invalid(check.Errors);
    }

    /// <summary>One page of jobs and the cursor of the next (the last job's id, when the page is full).</summary>
    public static async Task<JobList> PageAsync(JobQueries queries, JobFilter filter, int limit, CancellationToken ct)
    {
        var rows = await queries.ListJobsAsync(filter, limit, ct);
        return new JobList(
            rows.Select(j => new JobListItem(j.JobId, j.ProjectId, j.ProjectName, j.Status, j.Stage, j.CostUsd, j.CreatedAt, j.UpdatedAt, j.CompletedAt)).ToList(),
            limit, rows.Count == limit ? rows[^1].JobId : null);
    }

    public static async Task<Results<Ok<JobResponse>, ProblemHttpResult>> GetJob(Guid job_id, JobDetailCache jobs, CancellationToken ct) =>
        await jobs.GetAsync(job_id, ct) is { } detail ? TypedResults.Ok(ToResponse(detail)) : Problems.NotFound("job", job_id);

    public static async Task<Results<Ok<List<ArtifactListItem>>, ProblemHttpResult>> ListArtifacts(Guid job_id, JobQueries queries, CancellationToken ct)
    {
        if (await queries.GetJobAsync(job_id, ct) is null)
        {
            return Problems.NotFound("job", job_id);
        }
        var artifacts = await queries.ListArtifactsAsync(job_id, ct);
        return TypedResults.Ok(artifacts.Select(a => new ArtifactListItem(a.Type, a.Version, a.ContentType, a.Size, a.CreatedAt)).ToList());
    }

    public static async Task<Results<FileContentHttpResult, ProblemHttpResult>> DownloadArtifacts(Guid job_id, JobQueries queries, CancellationToken ct)
    {
        if (await queries.GetJobAsync(job_id, ct) is null)
        {
            return Problems.NotFound("job", job_id);
        }
        var artifacts = await queries.LatestArtifactsAsync(job_id, ct);
        return artifacts.Count == 0
            ? Problems.NotFound($"Job {job_id} has no artifacts yet.")
            : TypedResults.File(ArtifactArchive.Zip(artifacts), "application/zip", $"agent-bus-{job_id}.zip");
    }

    public static async Task<Results<Ok<ArtifactResponse>, ProblemHttpResult, ValidationProblem>> GetArtifact(
        Guid job_id, string type, JobQueries queries, CancellationToken ct, [FromQuery] int? version = null)
    {
        var check = new Validator()
            .Require(Pipeline.ArtifactTypes.Contains(type), "type", $"must be one of {string.Join(", ", Pipeline.ArtifactTypes)}")
            .Require(version is null or >= 1, "version", "must be 1 or more");
        if (!check.Ok)
        {
            return Problems.Invalid(check.Errors);
        }
        if (await queries.GetJobAsync(job_id, ct) is null)
        {
            return Problems.NotFound("job", job_id);
        }
        return await queries.GetArtifactAsync(job_id, type, version, ct) is { } a
            ? TypedResults.Ok(new ArtifactResponse(a.Type, a.Version, a.Content, a.ContentType, a.CreatedAt))
            : Problems.NotFound($"Job {job_id} has no {type} artifact{(version is null ? "" : $" version {version}")} yet.");
    }

    public static async Task<Results<Ok<JobStatusResponse>, ProblemHttpResult, ValidationProblem>> Approve(
        Guid job_id, JobCommands commands, ClaimsPrincipal user, CancellationToken ct, ApproveRequest? request = null)
    {
        var check = new Validator().Text(request?.Notes, "notes", MaxNotes, required: false);
        return !check.Ok ? Problems.Invalid(check.Errors)
            : Answer(job_id, "approve", JobStatus.WaitingForApproval, await commands.ApproveAsync(job_id, Roles.Actor(user), request?.Notes, ct));
    }

    public static async Task<Results<Ok<JobStatusResponse>, ProblemHttpResult, ValidationProblem>> RequestChanges(
        Guid job_id, ChangesRequest request, JobCommands commands, ClaimsPrincipal user, CancellationToken ct)
    {
        var check = new Validator().Text(request.Notes, "notes", MaxNotes);
        return !check.Ok ? Problems.Invalid(check.Errors)
            : Answer(job_id, "request changes for", JobStatus.WaitingForApproval, await commands.RequestChangesAsync(job_id, Roles.Actor(user), request.Notes!, ct));
    }

    public static async Task<Results<Ok<JobStatusResponse>, ProblemHttpResult, ValidationProblem>> Reject(
        Guid job_id, JobCommands commands, ClaimsPrincipal user, CancellationToken ct, ReasonRequest? request = null)
    {
        var check = new Validator().Text(request?.Reason, "reason", MaxNotes, required: false);
        return !check.Ok ? Problems.Invalid(check.Errors)
            : Answer(job_id, "reject", JobStatus.WaitingForApproval, await commands.RejectAsync(job_id, Roles.Actor(user), request?.Reason, ct));
    }

    public static async Task<Results<Ok<JobStatusResponse>, ProblemHttpResult, ValidationProblem>> Cancel(
        Guid job_id, JobCommands commands, ClaimsPrincipal user, CancellationToken ct, ReasonRequest? request = null)
    {
        var check = new Validator().Text(request?.Reason, "reason", MaxNotes, required: false);
        return !check.Ok ? Problems.Invalid(check.Errors)
            : Answer(job_id, "cancel", string.Join(", ", JobStatus.Active), await commands.CancelAsync(job_id, Roles.Actor(user), request?.Reason, ct));
    }

    public static async Task<Results<Ok<JobStatusResponse>, ProblemHttpResult, ValidationProblem>> Resume(Guid job_id, JobCommands commands, ClaimsPrincipal user, CancellationToken ct) =>
        Answer(job_id, "resume", $"failed with {BudgetExceededException.Code}", await commands.ResumeAsync(job_id, Roles.Actor(user), ct));

    public static async Task<Results<Ok<UsageResponse>, ProblemHttpResult>> GetUsage(Guid job_id, JobQueries queries, LlmSpend spend, CancellationToken ct)
    {
        if (await queries.GetJobAsync(job_id, ct) is not { } job)
        {
            return Problems.NotFound("job", job_id);
        }
        var project = await queries.GetProjectAsync(job.ProjectId, ct);
        return TypedResults.Ok(UsageResponse.From(await spend.UsageAsync(job_id, null, ct), project?.BudgetUsd));
    }

    private static Results<Ok<JobStatusResponse>, ProblemHttpResult, ValidationProblem> Answer(Guid jobId, string action, string allowed, Transition transition) =>
        transition.Outcome switch
        {
            TransitionOutcome.NotFound => Problems.NotFound("job", jobId),
            TransitionOutcome.Conflict => Problems.Conflict(action, transition.Status!, allowed),
            _ => TypedResults.Ok(new JobStatusResponse(jobId, transition.Status!)),
        };
}
