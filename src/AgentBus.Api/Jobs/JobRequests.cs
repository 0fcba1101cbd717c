namespace AgentBus.Api.Jobs;

// The JSON bodies these endpoints accept (snake_case on the wire).
public sealed record ApproveRequest(string? Notes);
public sealed record ChangesRequest(string? Notes);
public sealed record ReasonRequest(string? Reason);
