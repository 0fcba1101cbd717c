using System.Globalization;

namespace AgentBus.Bench;

public sealed record BenchArgs(string Command, IReadOnlyDictionary<string, string> Values)
{
    public static BenchArgs Parse(string[] args)
    {
        var values = new Dictionary<string, string>();
        for (var i = 1; i + 1 < args.Length; i += 2)
        {
            values[args[i].TrimStart('-')] = args[i + 1];
        }
        return new BenchArgs(args.Length > 0 ? args[0] : "", values);
    }

    public int Int(string name, int fallback) =>
        Values.TryGetValue(name, out var v) ? int.Parse(v, CultureInfo.InvariantCulture) : fallback;

    public string Text(string name, string fallback) => Values.GetValueOrDefault(name, fallback);

    public int Tasks => Int("tasks", 2000);
    public int Concurrency => Int("concurrency", 16);
    public int Runs => Int("runs", 3);

    /// <summary>Warm-up runs done first and not counted (see <see cref="RunSchedule"/>): at least this many.</summary>
    public int Warmup => Int("warmup", 1);

    /// <summary>At most this many warm-up runs, however busy the JIT still is.</summary>
    public int MaxWarmup => Math.Max(Warmup, Int("max-warmup", 8));

    public static string Require(string variable) =>
        Environment.GetEnvironmentVariable(variable) ?? throw new InvalidOperationException($"{variable} is not set");
}
