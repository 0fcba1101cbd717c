using System.Net;

namespace AgentBus.IntegrationTests.Fixtures;

/// <summary>
/// What the workload did, for the tests to look for. ApprovalWaits: when ChangedThenCompleted's PRD
/// waited for a person, first before the changes were requested, then before the approval.
/// </summary>
public sealed record Workload(
    Guid ChangedThenCompleted, IReadOnlyList<(DateTimeOffset From, DateTimeOffset To)> ApprovalWaits, Guid Completed, Guid Rejected, Guid Canceled, Guid BudgetFailed,
    string DeadLetteredEntry, IReadOnlyDictionary<string, HttpStatusCode> ReadinessDuringRedisPause);
