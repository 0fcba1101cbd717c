namespace AgentBus.Store;

/// <summary>The columns read into the row types, for the store's statements.</summary>
internal static class Columns
{
    public const string Project = "project_id, name, requirements, metadata::text AS metadata, budget_usd, created_at, updated_at";
    public const string Job = "job_id, project_id, status, stage, error_code, error_message, created_at, updated_at, started_at, completed_at";
    public const string StageRun = "stage, agent_type, status, task_id, attempts, notes, error, queued_at, started_at, completed_at";
}
