namespace AgentBus.Api.Security;

// The JSON bodies these endpoints answer with (snake_case on the wire).
public sealed record KeyCreated(Guid Id, string Name, string Role, string Prefix, string Key, DateTime CreatedAt);
public sealed record KeyListItem(Guid Id, string Name, string Role, string Prefix, DateTime CreatedAt, string CreatedBy, DateTime? RevokedAt, DateTime? LastUsedAt);
public sealed record KeyList(IReadOnlyList<KeyListItem> Items, long Total, int Limit, int Offset);
