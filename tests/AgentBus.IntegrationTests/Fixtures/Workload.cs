using System.Net;

namespace AgentBus.IntegrationTests.Fixtures;

/// <summary>What the workload did, for the tests to look for.</summary>
public sealed record Workload(
    Guid ChangedThenCompleted, Guid Completed, Guid Rejected, Guid Canceled, Guid BudgetFailed,
    string DeadLetteredEntry, IReadOnlyDictionary<string, HttpStatusCode> ReadinessDuringRedisPause);
