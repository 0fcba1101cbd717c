using AgentBus.Routing;

namespace AgentBus.Jobs;

/// <summary>A job as GET /api/jobs/{id} shows it: the row, its stage runs and its routing.</summary>
public sealed record JobDetail(JobRow Job, IReadOnlyList<StageRunRow> Stages, JobRouting? Routing);
