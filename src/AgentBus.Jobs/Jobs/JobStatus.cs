namespace AgentBus.Jobs;

/// <summary>A job's status as stored in jobs.status and shown by the API.</summary>
public static class JobStatus
{
    public const string Queued = "queued";
    public const string Running = "running";
    public const string WaitingForApproval = "waiting_for_approval";
    public const string Completed = "completed";
    public const string Failed = "failed";
    public const string Canceled = "canceled";
    public const string Rejected = "rejected";

    public static readonly string[] Active = [Queued, Running, WaitingForApproval];

    public static readonly string[] All = [Queued, Running, WaitingForApproval, Completed, Failed, Canceled, Rejected];

    public static bool IsTerminal(string status) => status is Completed or Failed or Canceled or Rejected;
}
