namespace AgentBus.Jobs;

/// <summary>
/// Which jobs a list shows, newest first: of one status, of one project, whose project's name
/// contains <see cref="Text"/> (case-insensitive), created before the job <see cref="Before"/>
/// (the last one of the previous page: job ids are UUIDv7, so they sort by creation time).
/// </summary>
public sealed record JobFilter(string? Status = null, Guid? ProjectId = null, string? Text = null, Guid? Before = null);
