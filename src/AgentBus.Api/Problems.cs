using Microsoft.AspNetCore.Http.HttpResults;

namespace AgentBus.Api;

/// <summary>The API's RFC 9457 answers (the problem details service adds traceId to each).</summary>
public static class Problems
{
    public static ProblemHttpResult NotFound(string what, Guid id) =>
        TypedResults.Problem(statusCode: StatusCodes.Status404NotFound, title: "Not found", detail: $"No {what} with id {id}.");

    public static ProblemHttpResult NotFound(string detail) =>
        TypedResults.Problem(statusCode: StatusCodes.Status404NotFound, title: "Not found", detail: detail);

    public static ProblemHttpResult Conflict(string action, string status, string allowed) =>
        TypedResults.Problem(statusCode: StatusCodes.Status409Conflict, title: "Conflict with the job's state",
            detail: $"Cannot {action} a job that is {status}; {action} needs {allowed}.",
            extensions: new Dictionary<string, object?> { ["job_status"] = status });

    public static ValidationProblem Invalid(Dictionary<string, string[]> errors) =>
        TypedResults.ValidationProblem(errors, title: "The request is not valid");
}
