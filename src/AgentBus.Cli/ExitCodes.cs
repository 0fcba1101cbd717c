using System.Net;
using AgentBus.Client;

namespace AgentBus.Cli;

/// <summary>
/// What agentbus exits with (docs/cli.md): a script tells how a job ended, or why a command
/// failed, from the number alone.
/// </summary>
public static class ExitCodes
{
    /// <summary>The command did what it was asked; a followed job completed.</summary>
    public const int Ok = 0;

    /// <summary>The followed job failed (its budget stopped it included: `agentbus resume` continues it).</summary>
    public const int JobFailed = 1;

    /// <summary>The command line is wrong: an unknown command or option, a missing or malformed value.</summary>
    public const int Usage = 2;

    /// <summary>The followed job was canceled or its PRD rejected.</summary>
    public const int JobStopped = 3;

    /// <summary>The followed job waits for a person's approval (with --stop-at-approval).</summary>
    public const int WaitingForApproval = 4;

    /// <summary>Not logged in, or the api refused the credential (401) or its role (403).</summary>
    public const int Auth = 5;

    /// <summary>The api refused the request otherwise (400, 404, 409, 429, 5xx) or did not answer.</summary>
    public const int Api = 6;

    /// <summary>Interrupted (Ctrl+C), as shells report a SIGINT.</summary>
    public const int Interrupted = 130;

    /// <summary>The exit code of a job that is in <paramref name="status"/>; null while it is still going.</summary>
    public static int? ForJob(string status) => status switch
    {
        "completed" => Ok,
        "failed" => JobFailed,
        "canceled" or "rejected" => JobStopped,
        "waiting_for_approval" => WaitingForApproval,
        _ => null,
    };

    public static int ForProblem(ApiProblem problem) =>
        problem.Status is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden ? Auth : Api;
}
