namespace AgentBus.AppHost.Infrastructure;

/// <summary>The Postgres 15, redis-server and exporter binaries that local mode runs.</summary>
public sealed record LocalBinaries(string PostgresBinDir, string RedisServer, string PostgresExporter, string RedisExporter)
{
    public string Postgres => Path.Combine(PostgresBinDir, "postgres");

    /// <summary>Finds the binaries, or lists each missing one with the Debian package that provides it.</summary>
    public static LocalBinaries? Find(IConfiguration configuration, out IReadOnlyList<string> missing)
    {
        var binDir = configuration[InfrastructureOptions.PostgresBinDirKey] ?? InfrastructureOptions.DefaultPostgresBinDir;
        var redis = configuration[InfrastructureOptions.RedisServerKey] ?? FindOnPath("redis-server") ?? "redis-server";
        var postgresExporter = configuration[InfrastructureOptions.PostgresExporterKey] ?? FindOnPath("prometheus-postgres-exporter") ?? "prometheus-postgres-exporter";
        var redisExporter = configuration[InfrastructureOptions.RedisExporterKey] ?? FindOnPath("prometheus-redis-exporter") ?? "prometheus-redis-exporter";
        var problems = new List<string>();
        foreach (var binary in new[] { Path.Combine(binDir, "initdb"), Path.Combine(binDir, "postgres") })
        {
            if (!File.Exists(binary))
            {
                problems.Add($"{binary} (apt-get install postgresql-15)");
            }
        }
        if (!File.Exists(redis))
        {
            problems.Add($"{redis} (apt-get install redis-server)");
        }
        foreach (var exporter in new[] { postgresExporter, redisExporter })
        {
            if (!File.Exists(exporter))
            {
                problems.Add($"{exporter} (apt-get install {Path.GetFileName(exporter)})");
            }
        }
        if (Environment.UserName == "root" && !UserExists("postgres"))
        {
            problems.Add("the 'postgres' system user that Postgres runs as under root (apt-get install postgresql-15 creates it)");
        }
        missing = problems;
        return problems.Count == 0 ? new LocalBinaries(binDir, redis, postgresExporter, redisExporter) : null;
    }

    private static string? FindOnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, name))
            .FirstOrDefault(File.Exists);

    private static bool UserExists(string user) =>
        File.ReadLines("/etc/passwd").Any(line => line.StartsWith(user + ":", StringComparison.Ordinal));
}
