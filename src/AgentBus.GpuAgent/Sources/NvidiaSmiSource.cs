using System.ComponentModel;
using System.Diagnostics;
using AgentBus.Gpu;

namespace AgentBus.GpuAgent.Sources;

/// <summary>GPUs read by running nvidia-smi: the fallback when NVML cannot be loaded directly.</summary>
public sealed class NvidiaSmiSource(string path) : IGpuSource
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    public string Name => "nvidia-smi";

    /// <summary>The source if nvidia-smi runs and answers here, else null and why not.</summary>
    public static async Task<(NvidiaSmiSource? Source, string? Error)> TryOpenAsync(string path, CancellationToken ct)
    {
        var source = new NvidiaSmiSource(path);
        try
        {
            await source.ReadAsync(ct);
            return (source, null);
        }
        catch (Exception e) when (e is Win32Exception or InvalidOperationException or FormatException or TimeoutException)
        {
            return (null, $"nvidia-smi: {e.Message}");
        }
    }

    public async Task<IReadOnlyList<GpuReading>> ReadAsync(CancellationToken ct) => NvidiaSmiCsv.Parse(await RunAsync(ct));

    /// <summary>The raw CSV, for the gpu check's printout.</summary>
    public async Task<string> RunAsync(CancellationToken ct)
    {
        var start = new ProcessStartInfo(path, NvidiaSmiCsv.Arguments) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"{path} did not start");
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(Timeout);
        var stdout = process.StandardOutput.ReadToEndAsync(timeout.Token);
        var stderr = process.StandardError.ReadToEndAsync(timeout.Token);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            process.Kill();
            throw new TimeoutException($"{path} did not answer within {Timeout.TotalSeconds} s");
        }
        return process.ExitCode == 0
            ? await stdout
            : throw new InvalidOperationException($"{path} exited {process.ExitCode}: {(await stdout + await stderr).Trim()}");
    }
}
