using System.Collections.Concurrent;
using System.Diagnostics;

namespace AgentBus.Deploy.Tests;

/// <summary>The deployment inputs of the repository under test (k8s/, aspire-manifest.json) and `kubectl kustomize` with a per-run cache.</summary>
public static class Repo
{
    public static string K8s => Path.Combine(Repository.Root, "k8s");
    public static string ManifestPath => Path.Combine(Repository.Root, "aspire-manifest.json");
    public static AspireManifest Manifest => AspireManifest.Load(ManifestPath);

    public static readonly TheoryData<string> Overlays = new("dev", "prod");

    private static readonly ConcurrentDictionary<string, Lazy<string>> Rendered = new();

    /// <summary>The YAML of k8s/overlays/&lt;overlay&gt; (rendered once per run).</summary>
    public static string Render(string overlay) =>
        Rendered.GetOrAdd(overlay, o => new Lazy<string>(() => Kustomize(Path.Combine(K8s, "overlays", o)))).Value;

    public static IReadOnlyList<RenderedObject> Objects(string overlay) => RenderedObject.Split(Render(overlay));

    public static string Kustomize(string dir)
    {
        var start = new ProcessStartInfo("kubectl", ["kustomize", dir])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        Process process;
        try { process = Process.Start(start)!; }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException("kubectl is not on PATH (it renders kustomizations offline; install kubectl)", e);
        }
        using (process)
        {
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(TimeSpan.FromMinutes(2))) { process.Kill(); throw new TimeoutException($"kubectl kustomize {dir}"); }
            if (process.ExitCode != 0)
                throw new InvalidOperationException($"kubectl kustomize {dir} failed ({process.ExitCode}):\n{stderr.Result}");
            return stdout.Result;
        }
    }

    /// <summary>Copies a directory tree (for runs that must not touch the working tree).</summary>
    public static void Copy(string from, string to)
    {
        foreach (var dir in Directory.EnumerateDirectories(from, "*", SearchOption.AllDirectories))
            Directory.CreateDirectory(Path.Combine(to, Path.GetRelativePath(from, dir)));
        Directory.CreateDirectory(to);
        foreach (var file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
            File.Copy(file, Path.Combine(to, Path.GetRelativePath(from, file)));
    }

    public static string TempDir()
    {
        var dir = Path.Combine(Path.GetTempPath(), "agentbus-deploy-tests-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        return dir;
    }
}
