namespace AgentBus.Web.Components.Shared;

/// <summary>
/// The pipeline as the job page draws it: one column per step, stages that run in parallel in
/// the same column, and the approval gate after the PRD (the contract's stage order).
/// </summary>
public static class PipelineLayout
{
    public const string Approval = "approval";

    public static readonly IReadOnlyList<string[]> Columns =
    [
        ["prd"], [Approval], ["plan"], ["architecture"], ["uiux"], ["development"],
        ["qa", "security"], ["documentation", "support_docs"], ["pm_review"], ["delivery"],
    ];

    /// <summary>The artifact types in pipeline order (the approval gate has none).</summary>
    private static readonly List<string> ArtifactOrderList = Columns.SelectMany(c => c).Where(s => s != Approval).ToList();

    public static IReadOnlyList<string> ArtifactOrder => ArtifactOrderList;

    public static int Position(string type) => ArtifactOrderList.IndexOf(type) is var i and >= 0 ? i : int.MaxValue;

    public static bool IsTerminal(string status) => status is "completed" or "failed" or "canceled" or "rejected";
}
