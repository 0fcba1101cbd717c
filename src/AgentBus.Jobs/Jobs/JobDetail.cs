using AgentBus.Routing;

namespace AgentBus.Jobs;

/// <summary>A job as GET /api/jobs/{id} shows it: the row, every stage of the pipeline in order, and its routing.</summary>
public sealed record JobDetail(JobRow Job, IReadOnlyList<StageRunRow> Stages, JobRouting? Routing)
{
    /// <summary>
    /// The job with a run for every pipeline stage: a stage gets its stage_runs row when it is first
    /// queued, so one without a row is pending, or canceled once the job has ended.
    /// </summary>
    public static JobDetail WithStages(JobRow job, IEnumerable<StageRunRow> runs, JobRouting? routing)
    {
        var stored = runs.ToDictionary(r => r.Stage);
        var unqueued = JobStatus.IsTerminal(job.Status) ? StageStatus.Canceled : StageStatus.Pending;
        return new(job, [.. Pipeline.Stages.Select(s => stored.GetValueOrDefault(s.Name)
            ?? new StageRunRow { JobId = job.JobId, Stage = s.Name, AgentType = s.AgentType, Status = unqueued })], routing);
    }
}
