using Npgsql;
using StackExchange.Redis;

namespace AgentBus.Data;

/// <summary>
/// Whether a failure is an outage to wait out (the task stays pending and is retried when its
/// lease lapses) rather than a fault of this task: Redis, a lost or refused Postgres connection,
/// or a Postgres error whose SQLSTATE says it passes (resources, shutdown, serialization,
/// deadlock). A permanent database error, such as data Postgres cannot store, fails the attempt
/// like any other error instead of posing as an outage until the attempts run out.
/// </summary>
public static class Outage
{
    public static bool Is(Exception e) => e switch
    {
        PostgresException postgres => postgres.IsTransient,
        NpgsqlException => true,
        RedisException or RedisTimeoutException => true,
        _ => false,
    };
}
