using AgentBus.Gpu;

namespace AgentBus.GpuAgent.Sources;

/// <summary>
/// GPUs from a recording of nvidia-smi's CSV output (tests/fixtures/gpu/*.csv): a machine without
/// GPUs then behaves exactly like the recorded node. Read on every refresh, so a changed file shows.
/// </summary>
public sealed class RecordedSource(string path) : IGpuSource
{
    public string Name => "recorded";

    public async Task<IReadOnlyList<GpuReading>> ReadAsync(CancellationToken ct) =>
        NvidiaSmiCsv.Parse(await File.ReadAllTextAsync(path, ct));
}
