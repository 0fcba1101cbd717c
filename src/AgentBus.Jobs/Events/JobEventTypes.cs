namespace AgentBus.Events;

/// <summary>The types of job events (the SSE event names and the log lines' event names).</summary>
public static class JobEventTypes
{
    public const string JobCreated = "job_created";
    public const string JobStarted = "job_started";
    public const string StageQueued = "stage_queued";
    public const string StageStarted = "stage_started";
    public const string StageCompleted = "stage_completed";
    public const string StageRetry = "stage_retry";
    public const string StageFailed = "stage_failed";
    public const string ApprovalRequested = "approval_requested";
    public const string JobApproved = "job_approved";
    public const string ChangesRequested = "changes_requested";
    public const string JobRejected = "job_rejected";
    public const string JobCanceled = "job_canceled";
    public const string JobCompleted = "job_completed";
    public const string JobFailed = "job_failed";
    public const string JobResumed = "job_resumed";
    public const string BudgetChanged = "budget_changed";

    // Notes of a completed stage (StageOutput.Notes), committed just before its stage_completed.
    public const string AnswerRepaired = "answer_repaired";
    public const string ContextReduced = "context_reduced";
    public const string RequirementsUntraced = "requirements_untraced";
    public const string RequirementsUncovered = "requirements_uncovered";

    public static bool EndsStream(string type) => type is JobCompleted or JobFailed or JobRejected or JobCanceled;
}
