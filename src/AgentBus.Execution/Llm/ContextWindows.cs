using Microsoft.Extensions.Options;

namespace AgentBus.Llm;

/// <summary>
/// How many tokens (prompt and answer together) each model takes: built-in for the price table's
/// models (the vendors' documented windows), AgentBus:Llm:ContextWindows:&lt;model&gt; overrides, and
/// AgentBus:Llm:DefaultContextWindow for any other model (local models vary: set theirs).
/// </summary>
public sealed class ContextWindows(IOptions<LlmOptions> options)
{
    private static readonly Dictionary<string, int> BuiltIn = new(StringComparer.OrdinalIgnoreCase)
    {
        ["claude-opus-4-5"] = 200_000, ["claude-opus-4-1"] = 200_000, ["claude-opus-4"] = 200_000,
        ["claude-sonnet-4-5"] = 200_000, ["claude-sonnet-4"] = 200_000, ["claude-3-7-sonnet"] = 200_000,
        ["claude-haiku-4-5"] = 200_000, ["claude-3-5-haiku"] = 200_000, ["claude-3-haiku"] = 200_000,
        ["gpt-5"] = 400_000, ["gpt-5-mini"] = 400_000, ["gpt-5-nano"] = 400_000,
        ["gpt-4.1"] = 1_047_576, ["gpt-4.1-mini"] = 1_047_576, ["gpt-4.1-nano"] = 1_047_576,
        ["gpt-4o"] = 128_000, ["gpt-4o-mini"] = 128_000,
        ["o3"] = 200_000, ["o4-mini"] = 200_000,
        [OfflineChatClient.ModelName] = 128_000,
    };

    private readonly IReadOnlyDictionary<string, int> _windows = ModelTable.Merge(BuiltIn, options.Value.ContextWindows);

    public int For(string model) => ModelTable.TryFind(_windows, model, out var window) ? window : options.Value.DefaultContextWindow;
}
