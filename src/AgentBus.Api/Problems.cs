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

/// <summary>Collects per-field validation errors.</summary>
public sealed class Validator
{
    public Dictionary<string, string[]> Errors { get; } = [];
    public bool Ok => Errors.Count == 0;

    public Validator Require(bool condition, string field, string message)
    {
        if (!condition)
        {
            Errors[field] = [.. Errors.GetValueOrDefault(field, []), message];
        }
        return this;
    }

    public Validator Text(string? value, string field, int max, bool required = true)
    {
        if (value is null || value.Trim().Length == 0)
        {
            return Require(!required, field, "is required and must not be blank");
        }
        Require(value.Length <= max, field, $"must be at most {max} characters (got {value.Length})");
        return Require(!value.Any(c => char.IsControl(c) && c is not ('\n' or '\r' or '\t')), field, "must not contain control characters");
    }
}

/// <summary>limit and offset of every list endpoint.</summary>
public static class Paging
{
    public const int DefaultLimit = 20;
    public const int MaxLimit = 200;
    public const int MaxOffset = 1_000_000;

    public static Validator Check(int limit, int offset) => new Validator()
        .Require(limit is >= 1 and <= MaxLimit, "limit", $"must be between 1 and {MaxLimit}")
        .Require(offset is >= 0 and <= MaxOffset, "offset", $"must be between 0 and {MaxOffset}");
}
