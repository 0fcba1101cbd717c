namespace AgentBus.Api.Security;

/// <summary>A key that authenticated: who it is and what it may do.</summary>
public sealed record ApiKeyIdentity(string Caller, string Role, Guid? Id);
