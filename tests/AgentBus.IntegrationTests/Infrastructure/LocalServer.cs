using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace AgentBus.IntegrationTests.Infrastructure;

/// <summary>Servers a test runs itself, as child processes on loopback, stopped by their pid.</summary>
public static class LocalServer
{
    /// <summary>A loopback port free now (the kernel's pick), for a server about to start.</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>SIGTERM to a process this test started, then SIGKILL if it lingers past <paramref name="patience"/>.</summary>
    public static async Task StopAsync(Process process, TimeSpan patience)
    {
        if (process.HasExited)
        {
            return;
        }
        using (var term = Process.Start("kill", ["-TERM", process.Id.ToString(CultureInfo.InvariantCulture)]))
        {
            await term.WaitForExitAsync();
        }
        using var wait = new CancellationTokenSource(patience);
        try
        {
            await process.WaitForExitAsync(wait.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill();
            await process.WaitForExitAsync();
        }
    }
}
