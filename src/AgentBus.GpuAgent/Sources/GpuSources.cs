namespace AgentBus.GpuAgent.Sources;

public static class GpuSources
{
    /// <summary>
    /// The source AgentBus:Gpu:Source names. auto tries NVML, then nvidia-smi, then settles for no
    /// GPUs. A named source that cannot be opened also yields no GPUs, with the reason: the agent
    /// stays up and ready, reports zero GPUs and takes no GPU work, rather than crash-looping.
    /// </summary>
    public static async Task<(IGpuSource Source, string? Error)> OpenAsync(GpuAgentOptions options, CancellationToken ct)
    {
        (IGpuSource? Source, string? Error) opened = options.Source switch
        {
            "recorded" => File.Exists(options.RecordedPath)
                ? (new RecordedSource(options.RecordedPath), null)
                : (null, $"recorded GPU file not found: {options.RecordedPath}"),
            "nvml" => NvmlSource.TryOpen(),
            "nvidia-smi" => await NvidiaSmiSource.TryOpenAsync(options.NvidiaSmiPath, ct),
            _ => await AutoAsync(options, ct),
        };
        return (opened.Source ?? new NoGpuSource(), opened.Error);
    }

    private static async Task<(IGpuSource? Source, string? Error)> AutoAsync(GpuAgentOptions options, CancellationToken ct)
    {
        var (nvml, nvmlError) = NvmlSource.TryOpen();
        if (nvml is not null)
        {
            return (nvml, null);
        }
        var (smi, smiError) = await NvidiaSmiSource.TryOpenAsync(options.NvidiaSmiPath, ct);
        return smi is not null ? (smi, null) : (null, $"{nvmlError}; {smiError}");
    }
}
