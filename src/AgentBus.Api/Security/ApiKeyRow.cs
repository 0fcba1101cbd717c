namespace AgentBus.Api.Security;

public sealed class ApiKeyRow
{
    public Guid Id { get; init; }
    public string Name { get; init; } = "";
    public string Role { get; init; } = "";
    public string Prefix { get; init; } = "";
    public DateTime CreatedAt { get; init; }
    public string CreatedBy { get; init; } = "";
    public DateTime? RevokedAt { get; init; }
    public DateTime? LastUsedAt { get; init; }
}
