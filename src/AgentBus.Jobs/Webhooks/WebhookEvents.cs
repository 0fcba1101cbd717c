using AgentBus.Events;

namespace AgentBus.Webhooks;

/// <summary>The events a subscription may ask for: job events, with a budget stop told apart from other failures.</summary>
public static class WebhookEvents
{
    public const string ApprovalRequested = JobEventTypes.ApprovalRequested;
    public const string JobCompleted = JobEventTypes.JobCompleted;
    public const string JobFailed = JobEventTypes.JobFailed;
    /// <summary>A job_failed event whose error_code is budget_exceeded (the job can be resumed).</summary>
    public const string BudgetStopped = "budget_stopped";

    public static readonly IReadOnlyList<string> All = [ApprovalRequested, JobCompleted, JobFailed, BudgetStopped];

    /// <summary>Whether a job event of this type can become a delivery.</summary>
    public static bool IsSource(string jobEventType) => jobEventType is ApprovalRequested or JobCompleted or JobFailed;
}
