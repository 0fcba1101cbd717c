using System.Globalization;
using AgentBus.Gpu;
using AgentBus.GpuAgent.Sources;

namespace AgentBus.GpuAgent;

/// <summary>
/// --gpu-check (scripts/gpu-check.sh): reads this machine's GPUs through NVML and through
/// nvidia-smi, prints both side by side and exits 0 when they agree, 1 when a value differs beyond
/// its tolerance, 2 when either cannot be read. nvidia-smi is read just before and just after NVML,
/// and a moving value (utilization, power, temperature, memory in use) passes when NVML's reading
/// lies within the two nvidia-smi readings widened by the tolerance.
/// </summary>
public static class GpuCheck
{
    public const string Flag = "--gpu-check";
    private const double MiB = 1024 * 1024;

    private sealed record Field(string Name, string Unit, Func<GpuReading, double?> Value, double Tolerance, double RelativeTolerance = 0);

    private static readonly Field[] Fields =
    [
        new("memory.total", "MiB", g => g.MemoryTotalBytes / MiB, 1),
        new("memory.used", "MiB", g => g.MemoryUsedBytes / MiB, 16, 0.01),
        new("utilization.gpu", "%", g => g.UtilizationRatio * 100, 10),
        new("temperature.gpu", "C", g => g.TemperatureCelsius, 2),
        new("power.draw", "W", g => g.PowerWatts, 10, 0.10),
    ];

    public static async Task<int> RunAsync(string nvidiaSmi, TextWriter output)
    {
        var (nvml, nvmlError) = NvmlSource.TryOpen();
        if (nvml is null)
        {
            output.WriteLine($"FAIL NVML: {nvmlError}");
            return 2;
        }
        using (nvml)
        {
            var smi = new NvidiaSmiSource(nvidiaSmi);
            string before, after;
            IReadOnlyList<GpuReading> fromNvml;
            try
            {
                before = await smi.RunAsync(CancellationToken.None);
                fromNvml = await nvml.ReadAsync(CancellationToken.None);
                after = await smi.RunAsync(CancellationToken.None);
            }
            catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception or TimeoutException)
            {
                output.WriteLine($"FAIL reading GPUs: {e.Message}");
                return 2;
            }

            output.WriteLine($"NVML ({NvmlSource.Library}), driver {nvml.DriverVersion}: {fromNvml.Count} GPU(s)");
            output.WriteLine($"nvidia-smi {string.Join(' ', NvidiaSmiCsv.Arguments)}:");
            foreach (var line in before.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                output.WriteLine($"  {line}");
            }
            return Compare(fromNvml, NvidiaSmiCsv.Parse(before), NvidiaSmiCsv.Parse(after), output) ? 0 : 1;
        }
    }

    private static bool Compare(IReadOnlyList<GpuReading> nvml, IReadOnlyList<GpuReading> smiBefore, IReadOnlyList<GpuReading> smiAfter, TextWriter output)
    {
        var ok = true;
        void Row(string gpu, string field, string fromNvml, string fromSmi, bool agrees)
        {
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{(agrees ? "ok  " : "DIFF")} gpu {gpu,-3} {field,-16} nvml {fromNvml,-42} nvidia-smi {fromSmi}"));
            ok &= agrees;
        }

        Row("*", "count", nvml.Count.ToString(CultureInfo.InvariantCulture), smiBefore.Count.ToString(CultureInfo.InvariantCulture), nvml.Count == smiBefore.Count);
        foreach (var g in nvml)
        {
            var index = g.Index.ToString(CultureInfo.InvariantCulture);
            if (smiBefore.SingleOrDefault(s => s.Uuid == g.Uuid) is not { } s1 || smiAfter.SingleOrDefault(s => s.Uuid == g.Uuid) is not { } s2)
            {
                Row(index, "uuid", g.Uuid, "(not listed)", false);
                continue;
            }
            Row(index, "uuid", g.Uuid, s1.Uuid, true);
            Row(index, "index", index, s1.Index.ToString(CultureInfo.InvariantCulture), g.Index == s1.Index);
            Row(index, "name", g.Name, s1.Name, g.Name == s1.Name);
            foreach (var f in Fields)
            {
                var (v, a, b) = (f.Value(g), f.Value(s1), f.Value(s2));
                var smiText = a is null || b is null ? "[N/A]" : a == b ? Show(a, f) : $"{Show(a, f)} .. {Show(b, f)}";
                if (v is null || a is null || b is null)
                {
                    Row(index, f.Name, v is null ? "not supported" : Show(v, f), smiText, v is null && a is null && b is null);
                    continue;
                }
                var slack = Math.Max(f.Tolerance, f.RelativeTolerance * Math.Max(a.Value, b.Value));
                Row(index, f.Name, Show(v, f), smiText, v >= Math.Min(a.Value, b.Value) - slack && v <= Math.Max(a.Value, b.Value) + slack);
            }
        }
        output.WriteLine(ok ? "PASS NVML and nvidia-smi agree" : "FAIL NVML and nvidia-smi disagree (DIFF lines above)");
        return ok;
    }

    private static string Show(double? value, Field f) => string.Create(CultureInfo.InvariantCulture, $"{value:0.##} {f.Unit}");
}
