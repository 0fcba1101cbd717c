namespace AgentBus.Routing;

/// <summary>Where a job's stages go and why, as GET /api/jobs/{id} shows it.</summary>
public sealed record JobRouting(string Queue, bool RequiresGpu, double Confidence, IReadOnlyList<string> Reasons, string? FallbackReason);
