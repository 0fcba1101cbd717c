using Microsoft.Extensions.Options;

namespace AgentBus.Llm;

/// <summary>
/// Built-in list prices (USD per million tokens, checked against the vendors' price pages in 2025)
/// plus configured overrides. A model that matches nothing has no price: its cost is unknown, never $0.
/// </summary>
public sealed class PriceTable(IOptions<LlmOptions> options)
{
    private static readonly Dictionary<string, ModelPrice> BuiltIn = new(StringComparer.OrdinalIgnoreCase)
    {
        // Anthropic: cache write is the 5-minute cache write price.
        ["claude-opus-4-5"] = new() { Input = 5m, Output = 25m, CacheRead = 0.50m, CacheWrite = 6.25m },
        ["claude-opus-4-1"] = new() { Input = 15m, Output = 75m, CacheRead = 1.50m, CacheWrite = 18.75m },
        ["claude-opus-4"] = new() { Input = 15m, Output = 75m, CacheRead = 1.50m, CacheWrite = 18.75m },
        ["claude-sonnet-4-5"] = new() { Input = 3m, Output = 15m, CacheRead = 0.30m, CacheWrite = 3.75m },
        ["claude-sonnet-4"] = new() { Input = 3m, Output = 15m, CacheRead = 0.30m, CacheWrite = 3.75m },
        ["claude-3-7-sonnet"] = new() { Input = 3m, Output = 15m, CacheRead = 0.30m, CacheWrite = 3.75m },
        ["claude-haiku-4-5"] = new() { Input = 1m, Output = 5m, CacheRead = 0.10m, CacheWrite = 1.25m },
        ["claude-3-5-haiku"] = new() { Input = 0.80m, Output = 4m, CacheRead = 0.08m, CacheWrite = 1m },
        ["claude-3-haiku"] = new() { Input = 0.25m, Output = 1.25m, CacheRead = 0.03m, CacheWrite = 0.30m },
        // OpenAI: cached input is read at the cached price; there is no separate write price.
        ["gpt-5"] = new() { Input = 1.25m, Output = 10m, CacheRead = 0.125m },
        ["gpt-5-mini"] = new() { Input = 0.25m, Output = 2m, CacheRead = 0.025m },
        ["gpt-5-nano"] = new() { Input = 0.05m, Output = 0.40m, CacheRead = 0.005m },
        ["gpt-4.1"] = new() { Input = 2m, Output = 8m, CacheRead = 0.50m },
        ["gpt-4.1-mini"] = new() { Input = 0.40m, Output = 1.60m, CacheRead = 0.10m },
        ["gpt-4.1-nano"] = new() { Input = 0.10m, Output = 0.40m, CacheRead = 0.025m },
        ["gpt-4o"] = new() { Input = 2.50m, Output = 10m, CacheRead = 1.25m },
        ["gpt-4o-mini"] = new() { Input = 0.15m, Output = 0.60m, CacheRead = 0.075m },
        ["o3"] = new() { Input = 2m, Output = 8m, CacheRead = 0.50m },
        ["o4-mini"] = new() { Input = 1.10m, Output = 4.40m, CacheRead = 0.275m },
        // The built-in offline provider costs nothing, and says so.
        [OfflineChatClient.ModelName] = new(),
    };

    /// <summary>The price of a model id (see <see cref="ModelTable.TryFind{T}"/>); null when unknown.</summary>
    public ModelPrice? Find(string model) => ModelTable.TryFind(_prices, model, out var price) ? price : null;

    // Merged once: Find runs before every model call.
    private readonly IReadOnlyDictionary<string, ModelPrice> _prices = ModelTable.Merge(BuiltIn, options.Value.Prices);
}
