namespace AgentBus.GpuAgent.Sources;

/// <summary>Opens the GPU source the gpu-agent is configured to read.</summary>
public static class GpuSources
{
    /// <summary>
    /// The source AgentBus:Gpu:Source names (<paramref name="source"/>: auto, nvml, nvidia-smi or
    /// recorded, which replays <paramref name="recordedPath"/>). auto tries NVML, then nvidia-smi, then settles for no
    /// GPUs. A named source that cannot be opened also yields no GPUs, with the reason: the agent
    /// stays up and ready, reports zero GPUs and takes no GPU work, rather than crash-looping.
    /// </summary>
    public static async Task<(IGpuSource Source, string? Error)> OpenAsync(string source, string? recordedPath, string nvidiaSmiPath, CancellationToken ct)
    {
        (IGpuSource? Source, string? Error) opened = source switch
        {
            "recorded" => File.Exists(recordedPath)
                ? (new RecordedSource(recordedPath), null)
                : (null, $"recorded GPU file not found: {recordedPath}"),
            "nvml" => NvmlSource.TryOpen(),
            "nvidia-smi" => await NvidiaSmiSource.TryOpenAsync(nvidiaSmiPath, ct),
            _ => await AutoAsync(nvidiaSmiPath, ct),
        };
        return (opened.Source ?? new NoGpuSource(), opened.Error);
    }

    private static async Task<(IGpuSource? Source, string? Error)> AutoAsync(string nvidiaSmiPath, CancellationToken ct)
    {
        var (nvml, nvmlError) = NvmlSource.TryOpen();
        if (nvml is not null)
        {
            return (nvml, null);
        }
        var (smi, smiError) = await NvidiaSmiSource.TryOpenAsync(nvidiaSmiPath, ct);
        return smi is not null ? (smi, null) : (null, $"{nvmlError}; {smiError}");
    }
}
