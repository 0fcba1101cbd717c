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

    /// <summary>Prints each measurement with its first <paramref name="warmup"/> runs set apart: they count in no median.</summary>
    public static async Task PrintAsync(IEnumerable<Measurement> measurements, int warmup)
    {
        var list = measurements.Select(m =>
        {
            var counted = m with { Runs = m.Runs.Skip(warmup).ToList() };
            return new { m.Name, m.Unit, counted.Median, counted.Runs, WarmupRuns = m.Runs.Take(warmup).ToList(), m.Details };
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
