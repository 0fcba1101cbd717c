namespace AgentBus.Data;

/// <summary>
/// The Postgres roles (docs/security.md, "Database roles"). The owner owns the schema and
/// cannot log in; the migrations reach it by SET ROLE. The services log in as the app role, which
/// owns nothing: it may read and write rows and use sequences, never create, alter or drop.
/// The monitoring role (postgres_exporter's) logs in and reads statistics only (pg_monitor).
/// The names are fixed because 0009_roles.sql grants to them; the AppHost names the app role in the
/// services' connection string.
/// </summary>
public static class DatabaseRoles
{
    public const string Owner = "agentbus_owner";
    public const string App = "agentbus_app";
    public const string Monitor = "agentbus_monitor";
}
