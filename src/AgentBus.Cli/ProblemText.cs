using AgentBus.Client;

namespace AgentBus.Cli;

/// <summary>An api's refusal (problem+json) as one plain sentence on one line, with its trace id.</summary>
public static class ProblemText
{
    public static string Sentence(ApiProblem problem)
    {
        var text = OneLine(problem.Message).TrimEnd('.');
        if (problem.Errors.Count > 0)
        {
            text += ": " + string.Join("; ", problem.Errors.OrderBy(e => e.Key, StringComparer.Ordinal)
                .Select(e => $"{e.Key} {string.Join(", ", e.Value.Select(OneLine))}"));
        }
        return problem.TraceId is null ? $"{text}." : $"{text} (trace {problem.TraceId}).";
    }

    /// <summary>The api's texts may hold line breaks (a quoted value): a script reads one line.</summary>
    private static string OneLine(string text) => string.Join(' ', text.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));

    /// <summary>The value of <paramref name="result"/>, or the sentence and exit code of its problem thrown.</summary>
    public static T Require<T>(this ApiResult<T> result) =>
        result.Problem is { } problem ? throw new CliException(ExitCodes.ForProblem(problem), Sentence(problem)) : result.Value!;

    /// <summary>For calls that answer nothing (204): throws the problem, if any.</summary>
    public static void Check<T>(this ApiResult<T> result)
    {
        if (result.Problem is { } problem)
        {
            throw new CliException(ExitCodes.ForProblem(problem), Sentence(problem));
        }
    }
}
