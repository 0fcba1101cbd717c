using System.Text.Json;

namespace AgentBus.Api.Projects;

// The JSON bodies these endpoints accept (snake_case on the wire).
/// <summary>RequiresGpu: true or false overrides the ML/CV detector; null (the default) lets it decide.</summary>
public sealed record CreateProjectRequest(string? Name, string? Requirements, JsonElement? Metadata, decimal? BudgetUsd, bool? RequiresGpu = null);
public sealed record UpdateProjectRequest(decimal? BudgetUsd);

/// <summary>RequiresGpu: true or false overrides the ML/CV detector for the new job; null lets it decide.</summary>
public sealed record RerunRequest(bool? RequiresGpu = null);
