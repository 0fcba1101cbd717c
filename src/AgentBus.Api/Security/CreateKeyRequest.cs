namespace AgentBus.Api.Security;

public sealed record CreateKeyRequest(string? Name, string? Role);
