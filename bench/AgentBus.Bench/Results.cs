using System.Diagnostics;
using System.Runtime;
using System.Text.Json;

namespace AgentBus.Bench;

/// <summary>One benchmark's result: every run's rate, and their median (what the report shows).</summary>
public sealed record Measurement(string Name, string Unit, IReadOnlyList<double> Runs, IReadOnlyDictionary<string, object>? Details = null)
{
    public double Median
    {
        get
        {
            var sorted = Runs.Order().ToArray();
            return sorted.Length == 0 ? 0
                : sorted.Length % 2 == 1 ? sorted[sorted.Length / 2]
                : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
        }
    }
}

public static class BenchResults
{
    private static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    /// <summary>
    /// Prints each measurement with its warm-up runs set apart (they count in no median) and the
    /// share of the machine the JIT took during each run.
    /// </summary>
    public static async Task PrintAsync(IEnumerable<Measurement> measurements, RunSchedule schedule)
    {
        var list = measurements.Select(m =>
        {
            var counted = m with { Runs = m.Runs.Skip(schedule.Warmups).ToList() };
            return new { m.Name, m.Unit, counted.Median, counted.Runs, WarmupRuns = m.Runs.Take(schedule.Warmups).ToList(), JitShare = schedule.JitShares, m.Details };
        }).ToList();
        await Console.Out.WriteLineAsync(JsonSerializer.Serialize(list, Json));
    }

    /// <summary>Polls until <paramref name="done"/> holds, or throws after <paramref name="limit"/>.</summary>
    public static async Task WaitUntilAsync(Func<Task<bool>> done, TimeSpan limit, string what)
    {
        var deadline = DateTime.UtcNow + limit;
        while (!await done())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"{what} did not finish within {limit}");
            }
            await Task.Delay(5);
        }
    }
}

/// <summary>
/// The runs of one benchmark: warm-up runs first, then --runs counted ones. On 2 cores tiered
/// compilation takes up to a fifth of the machine for the first several thousand tasks, so
/// warming up goes on (after at least --warmup runs, up to --max-warmup) while the JIT took more
/// than 2% of the machine's time during a run; from the first run under that, every run counts.
/// </summary>
public sealed class RunSchedule(BenchArgs args)
{
    private const double SettledJitShare = 0.02;
    private long _started;
    private TimeSpan _jitAtStart;

    public int Warmups { get; private set; }
    public int Counted { get; private set; }

    /// <summary>The index of the run about to start (warm-up runs included).</summary>
    public int Run => Warmups + Counted;

    /// <summary>Per run: JIT compilation time over the run's wall time times the processor count.</summary>
    public List<double> JitShares { get; } = [];

    /// <summary>Ends the run in progress, if any; true when another run is due.</summary>
    public bool Next()
    {
        if (_started != 0)
        {
            var wall = Stopwatch.GetElapsedTime(_started).TotalSeconds * Environment.ProcessorCount;
            var share = (JitInfo.GetCompilationTime() - _jitAtStart).TotalSeconds / wall;
            JitShares.Add(Math.Round(share, 4));
            var warming = Counted == 0 && (Warmups < args.Warmup || (share > SettledJitShare && Warmups < args.MaxWarmup));
            if (warming)
            {
                Warmups++;
            }
            else
            {
                Counted++;
            }
        }
        if (Counted >= args.Runs)
        {
            return false;
        }
        (_started, _jitAtStart) = (Stopwatch.GetTimestamp(), JitInfo.GetCompilationTime());
        return true;
    }
}
