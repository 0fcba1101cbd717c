using System.Security.Claims;
using System.Text.RegularExpressions;
using AgentBus.Api.Security;
using AgentBus.Jobs;
using AgentBus.Queue;
using AgentBus.Store;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using StackExchange.Redis;

namespace AgentBus.Api.Queues;

/// <summary>
/// Tasks that failed for good, for operators: what failed and why, and a way to send one back to
/// its queue once the cause is fixed (its stage starts its attempts afresh and the job continues).
/// </summary>
public static partial class DeadLettersApi
{
    public static IEndpointRouteBuilder MapDeadLettersApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/dead-letters").WithTags("Queues").RequireAuthorization(Roles.Operator);
        group.MapGet("", List).WithName("ListDeadLetters").WithSummary("Dead-lettered tasks of both queues, newest first, with their errors.");
        group.MapPost("/{queue}/{entry_id}/requeue", Requeue).WithName("RequeueDeadLetter")
            .WithSummary("Send a dead-lettered task back to its queue: its failed job runs that stage again with fresh attempts.");
        return app;
    }

    public static async Task<Results<Ok<DeadLetterList>, ValidationProblem, ProblemHttpResult>> List(TaskQueue tasks, [FromQuery] int limit = Paging.DefaultLimit)
    {
        var check = Paging.Check(limit, 0);
        if (!check.Ok)
        {
            return Problems.Invalid(check.Errors);
        }
        try
        {
            var letters = new List<DeadLetter>();
            foreach (var name in TaskQueue.Names)
            {
                letters.AddRange(await tasks.ListDeadLettersAsync(name, limit));
            }
            return TypedResults.Ok(new DeadLetterList([.. letters.OrderByDescending(l => l.DeadLetteredAt).Take(limit).Select(ToItem)]));
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            return RedisUnavailable();
        }
    }

    public static async Task<Results<Ok<Requeued>, ValidationProblem, ProblemHttpResult>> Requeue(
        string queue, string entry_id, TaskQueue tasks, JobCommands commands, ClaimsPrincipal user, CancellationToken ct)
    {
        var check = new Validator()
            .Require(TaskQueue.Names.Contains(queue), "queue", $"must be one of {string.Join(", ", TaskQueue.Names)}")
            .Require(EntryId().IsMatch(entry_id), "entry_id", "must be a stream entry id such as 1733443200000-0");
        if (!check.Ok)
        {
            return Problems.Invalid(check.Errors);
        }
        try
        {
            if (await tasks.FindDeadLetterAsync(queue, entry_id) is not { } letter)
            {
                return Problems.NotFound($"The {queue} queue has no dead letter {entry_id}.");
            }
            if (letter.Task is not { } task)
            {
                return TypedResults.Problem(statusCode: StatusCodes.Status422UnprocessableEntity, title: "Not a task",
                    detail: $"Dead letter {entry_id} is not a task (its entry was malformed), so there is nothing to send back.");
            }
            var transition = await commands.RetryFailedStageAsync(task.JobId, task.Stage, Roles.Actor(user), ct);
            switch (transition.Outcome)
            {
                case TransitionOutcome.NotFound:
                    return Problems.NotFound("job", task.JobId);
                case TransitionOutcome.Conflict:
                    return TypedResults.Problem(statusCode: StatusCodes.Status409Conflict, title: "Conflict with the job's state",
                        detail: $"Job {task.JobId} is {transition.Status}; only a failed job whose {task.Stage} stage failed can run it again.",
                        extensions: new Dictionary<string, object?> { ["job_status"] = transition.Status });
            }
            // The job runs the stage again with a new task; the old entry has served its purpose.
            await tasks.RemoveDeadLetterAsync(queue, entry_id);
            return TypedResults.Ok(new Requeued(queue, entry_id, task.JobId, task.Stage, transition.Status!));
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            return RedisUnavailable();
        }
    }

    private static DeadLetterItem ToItem(DeadLetter l) =>
        new(l.Queue, l.EntryId, l.Task?.JobId, l.Task?.ProjectId, l.Task?.Stage, l.Error, l.DeadLetteredAt);

    private static ProblemHttpResult RedisUnavailable() =>
        TypedResults.Problem(statusCode: StatusCodes.Status503ServiceUnavailable, title: "Queues unavailable",
            detail: "Redis, which holds the queues and their dead letters, did not answer; try again shortly.");

    [GeneratedRegex(@"^\d{1,20}-\d{1,20}$")]
    private static partial Regex EntryId();
}
