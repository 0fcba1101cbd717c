namespace AgentBus.Api.Projects;

/// <summary>AgentBus:Projects: what a project gets when its submitter does not say.</summary>
public sealed class ProjectOptions
{
    public const string Section = "AgentBus:Projects";

    /// <summary>
    /// The budget (USD) of a project submitted without one. Unset: such projects have none and
    /// their model calls are not checked (the daily cap aside). Only an admin may set a budget above it.
    /// </summary>
    public decimal? DefaultBudgetUsd { get; set; }
}
