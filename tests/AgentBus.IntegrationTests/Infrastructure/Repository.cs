using System.Diagnostics;

namespace AgentBus.IntegrationTests.Infrastructure;

public static class Repository
{
    public static string Root { get; } = FindRoot();

    /// <summary>Runs the built AppHost's manifest publisher into a file at the repository root (paths in it are relative to it) and returns its text.</summary>
    public static async Task<string> PublishManifestAsync(string fileName, CancellationToken ct)
    {
        var output = Path.Combine(Root, fileName);
        try
        {
            await RunAsync("dotnet", ["run", "--project", "src/AgentBus.AppHost", "--no-build", "--no-launch-profile", "--",
                "--publisher", "manifest", "--output-path", Path.Combine("..", "..", fileName)], ct);
            return await File.ReadAllTextAsync(output, ct);
        }
        finally
        {
            File.Delete(output);
        }
    }

    public static async Task<string> RunAsync(string command, IEnumerable<string> args, CancellationToken ct)
    {
        var start = new ProcessStartInfo(command, args) { WorkingDirectory = Root, RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync(ct);
        var stderr = process.StandardError.ReadToEndAsync(ct);
        await process.WaitForExitAsync(ct);
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{command} {string.Join(' ', args)} exited {process.ExitCode}: {await stdout}{await stderr}");
        }
        return await stdout;
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "AgentBus.sln")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException("AgentBus.sln not found above " + AppContext.BaseDirectory);
    }
}
