using System.ComponentModel;

namespace AgentBus.Agents;

/// <summary>
/// The plan stage's artifact. Its JSON schema is the answer format sent to the model
/// (<see cref="AgentAnswers"/>), and every answer is checked against the same schema on return.
/// </summary>
[Description("The delivery plan: milestones of tasks that together cover every functional requirement of the PRD.")]
public sealed record DeliveryPlan(
    [property: Description("Milestones in delivery order.")] IReadOnlyList<Milestone> Milestones,
    [property: Description("Assumptions the plan rests on.")] IReadOnlyList<string> Assumptions);

public sealed record Milestone(
    [property: Description("M1, M2, ...")] string Id,
    string Name,
    string Goal,
    IReadOnlyList<PlanTask> Tasks);

public sealed record PlanTask(
    [property: Description("T1, T2, ... unique across the plan.")] string Id,
    string Title,
    [property: Description("The ids of the PRD requirements this task delivers (FR-1, NFR-2, ...); empty for enabling work.")] IReadOnlyList<string> Requirements,
    [property: Description("Estimated effort in working days.")] int EstimateDays,
    [property: Description("Ids of tasks that must finish first.")] IReadOnlyList<string> DependsOn);
