namespace AgentBus.Jobs;

/// <summary>
/// The pipeline of the contract. prd stops for human approval; qa with security and documentation
/// with support_docs run in parallel; pm_review waits for both of the last pair.
/// </summary>
public static class Pipeline
{
    public const string Prd = "prd";

    public static readonly IReadOnlyList<StageDefinition> Stages =
    [
        new(Prd, "prd_agent", [], [], "text/markdown"),
        new("plan", "plan_agent", [Prd], [Prd], "application/json"),
        new("architecture", "architect_agent", ["plan"], [Prd, "plan"], "text/markdown"),
        new("uiux", "uiux_agent", ["architecture"], ["architecture", Prd], "text/markdown"),
        new("development", "developer_agent", ["uiux"], ["architecture", "uiux", Prd], "text/markdown"),
        new("qa", "qa_agent", ["development"], ["development", "architecture", Prd], "text/markdown"),
        // Reads qa when it exists; it does not wait for it, so the two run side by side.
        new("security", "security_agent", ["development"], ["development", "architecture", Prd], "text/markdown"),
        new("documentation", "tech_writer", ["qa", "security"], [Prd, "plan", "architecture", "uiux", "development", "qa", "security"], "text/markdown"),
        new("support_docs", "support_engineer", ["qa", "security"], [Prd, "plan", "architecture", "uiux", "development", "qa", "security"], "text/markdown"),
        new("pm_review", "product_manager", ["documentation", "support_docs"], [Prd, "plan", "architecture", "uiux", "development", "qa", "security", "documentation", "support_docs"], "text/markdown"),
        new("delivery", "delivery_agent", ["pm_review"], [Prd, "plan", "architecture", "uiux", "development", "qa", "security", "documentation", "support_docs", "pm_review"], "application/json"),
    ];

    public static readonly IReadOnlyDictionary<string, StageDefinition> ByName = Stages.ToDictionary(s => s.Name);

    /// <summary>Each stage's position in <see cref="Stages"/>, for listing stages in pipeline order.</summary>
    public static readonly IReadOnlyDictionary<string, int> Order = Stages.Select((s, i) => (s.Name, i)).ToDictionary(p => p.Name, p => p.i);

    public static readonly IReadOnlySet<string> ArtifactTypes = Stages.Select(s => s.Name).ToHashSet();

    public static readonly IReadOnlySet<string> AgentTypes = Stages.Select(s => s.AgentType).ToHashSet();

    /// <summary>The stages that may start once <paramref name="completed"/> are done (approval aside).</summary>
    public static IEnumerable<StageDefinition> Ready(IReadOnlySet<string> completed) =>
        Stages.Where(s => !completed.Contains(s.Name) && s.After.Length > 0 && s.After.All(completed.Contains));
}
