namespace AgentBus.Routing;

/// <summary>What the detector concluded about a project, with the evidence a person can check.</summary>
public sealed record GpuDetection(bool RequiresGpu, double Confidence, IReadOnlyList<string> Reasons);
