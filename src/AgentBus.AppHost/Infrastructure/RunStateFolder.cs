using System.Diagnostics;

namespace AgentBus.AppHost.Infrastructure;

/// <summary>
/// A folder per AppHost run for the local Postgres and Redis data, removed when the AppHost stops.
/// Folders left by a killed AppHost (its pid is gone) are swept at the next start.
/// </summary>
public sealed class RunStateFolder
{
    private RunStateFolder(string path) => Path = path;

    public string Path { get; }

    public static RunStateFolder Create(IDistributedApplicationBuilder builder)
    {
        var root = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "agentbus");
        Directory.CreateDirectory(root);
        SweepAbandoned(root);

        var folder = new RunStateFolder(System.IO.Path.Combine(root, $"run-{Environment.ProcessId}-{Guid.NewGuid().ToString("N")[..8]}"));
        Directory.CreateDirectory(folder.Path);
        builder.Eventing.Subscribe<AfterResourcesCreatedEvent>((e, _) =>
        {
            e.Services.GetRequiredService<IHostApplicationLifetime>().ApplicationStopped.Register(folder.Delete);
            return Task.CompletedTask;
        });
        return folder;
    }

    /// <summary>A sub-folder; under root it is handed to <paramref name="owner"/>, the user the server runs as.</summary>
    public string SubFolder(string name, string? owner = null)
    {
        var path = System.IO.Path.Combine(Path, name);
        Directory.CreateDirectory(path);
        if (owner is not null && Environment.UserName == "root")
        {
            using var chown = Process.Start("chown", [$"{owner}:{owner}", path]);
            chown.WaitForExit();
            if (chown.ExitCode != 0)
            {
                throw new DistributedApplicationException($"chown {owner} {path} failed with exit code {chown.ExitCode}.");
            }
        }
        return path;
    }

    private void Delete()
    {
        // The servers may still be flushing for a moment after the orchestrator stopped them.
        for (var attempt = 0; attempt < 5 && Directory.Exists(Path); attempt++)
        {
            try
            {
                Directory.Delete(Path, recursive: true);
            }
            catch (IOException)
            {
                Thread.Sleep(500);
            }
        }
    }

    private static void SweepAbandoned(string root)
    {
        foreach (var dir in Directory.EnumerateDirectories(root, "run-*"))
        {
            var parts = System.IO.Path.GetFileName(dir).Split('-');
            if (parts.Length >= 2 && int.TryParse(parts[1], out var pid) && !ProcessExists(pid))
            {
                try { Directory.Delete(dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            }
        }
    }

    private static bool ProcessExists(int pid) => Directory.Exists($"/proc/{pid}");
}
