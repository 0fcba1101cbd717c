namespace AgentBus.Spend;

/// <summary>
/// The next model call could pass the project's budget: the stage and its job stop with
/// <see cref="Code"/>, to be resumed once the budget is raised.
/// </summary>
public sealed class BudgetExceededException(string message) : Exception(message)
{
    /// <summary>The error code of a stage and job stopped by the budget (GET /api/jobs/{id}, agent_bus_errors_total).</summary>
    public const string Code = "budget_exceeded";
}
