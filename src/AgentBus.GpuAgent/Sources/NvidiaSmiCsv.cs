using System.Globalization;
using AgentBus.Gpu;

namespace AgentBus.GpuAgent.Sources;

/// <summary>
/// Reads the output of nvidia-smi --query-gpu=<see cref="Fields"/> --format=csv,noheader,nounits:
/// one line per GPU, values separated by ", ", memory in MiB, utilization in percent, power in W,
/// and "[N/A]" or "[Not Supported]" where the board reports nothing.
/// </summary>
public static class NvidiaSmiCsv
{
    public const string Fields = "index,uuid,name,utilization.gpu,memory.used,memory.total,temperature.gpu,power.draw";
    public static readonly string[] Arguments = [$"--query-gpu={Fields}", "--format=csv,noheader,nounits"];
    private const long MiB = 1024 * 1024;

    public static IReadOnlyList<GpuReading> Parse(string text) =>
        text.Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Select(ParseLine).ToList();

    private static GpuReading ParseLine(string line)
    {
        var f = line.Split(',', StringSplitOptions.TrimEntries);
        if (f.Length != 8)
        {
            throw new FormatException($"nvidia-smi line has {f.Length} fields, expected 8 ({Fields}): {line}");
        }
        return new GpuReading(
            int.Parse(f[0], CultureInfo.InvariantCulture), f[1], f[2],
            Optional(f[3]) / 100,
            Required(f[4], "memory.used", line) * MiB,
            Required(f[5], "memory.total", line) * MiB,
            Optional(f[6]), Optional(f[7]));
    }

    private static double? Optional(string value) =>
        double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v : null;

    private static long Required(string value, string field, string line) =>
        long.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v
            : throw new FormatException($"nvidia-smi reported no {field} ({value}): {line}");
}
