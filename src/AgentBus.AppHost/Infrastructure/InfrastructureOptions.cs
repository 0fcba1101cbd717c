using System.Diagnostics;

namespace AgentBus.AppHost.Infrastructure;

/// <summary>
/// How the AppHost gets Postgres and Redis. Set `AgentBus:Infrastructure` (env
/// AgentBus__Infrastructure) or pass `--infra local|containers` to force a mode.
/// </summary>
public static class InfrastructureOptions
{
    public const string ModeKey = "AgentBus:Infrastructure";
    public const string PostgresBinDirKey = "AgentBus:Local:PostgresBinDir";
    public const string RedisServerKey = "AgentBus:Local:RedisServer";
    public const string PostgresExporterKey = "AgentBus:Local:PostgresExporter";
    public const string RedisExporterKey = "AgentBus:Local:RedisExporter";
    public const string DefaultPostgresBinDir = "/usr/lib/postgresql/15/bin";

    public static InfrastructureMode ReadMode(IConfiguration configuration)
    {
        var value = configuration[ModeKey];
        if (string.IsNullOrWhiteSpace(value))
        {
            return InfrastructureMode.Auto;
        }
        return Enum.TryParse<InfrastructureMode>(value, ignoreCase: true, out var mode)
            ? mode
            : throw new DistributedApplicationException(
                $"{ModeKey}='{value}' is not a mode: use auto, containers or local.");
    }

    /// <summary>Asks the configured container runtime (docker unless ASPIRE_CONTAINER_RUNTIME says otherwise) whether its engine answers.</summary>
    public static bool ContainerRuntimeAnswers(IConfiguration configuration, out string detail)
    {
        var runtime = configuration["ASPIRE_CONTAINER_RUNTIME"] ?? configuration["DOTNET_ASPIRE_CONTAINER_RUNTIME"] ?? "docker";
        try
        {
            using var process = Process.Start(new ProcessStartInfo(runtime, ["info", "--format", "{{.ServerVersion}}"])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            })!;
            if (!process.WaitForExit(TimeSpan.FromSeconds(5)))
            {
                process.Kill(entireProcessTree: true);
                detail = $"'{runtime} info' did not answer within 5 s";
                return false;
            }
            detail = process.ExitCode == 0
                ? $"{runtime} engine {process.StandardOutput.ReadToEnd().Trim()}"
                : $"'{runtime} info' failed: {process.StandardError.ReadToEnd().Trim().Split('\n')[0]}";
            return process.ExitCode == 0;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            detail = $"no '{runtime}' command on PATH";
            return false;
        }
    }
}
