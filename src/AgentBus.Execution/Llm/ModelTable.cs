namespace AgentBus.Llm;

/// <summary>Per-model settings (prices, context windows): built-in entries plus configured overrides, found by model id.</summary>
public static class ModelTable
{
    public static IReadOnlyDictionary<string, T> Merge<T>(IReadOnlyDictionary<string, T> builtIn, IReadOnlyDictionary<string, T> configured) =>
        configured.Count == 0 ? builtIn : builtIn.Concat(configured)
            .GroupBy(p => p.Key, StringComparer.OrdinalIgnoreCase).ToDictionary(g => g.Key, g => g.Last().Value, StringComparer.OrdinalIgnoreCase);

    /// <summary>
    /// The entry of a model id: an exact entry, else the longest entry it starts with followed by
    /// '-' (dated snapshots such as claude-sonnet-4-5-20250929 or gpt-4o-2024-08-06).
    /// </summary>
    public static bool TryFind<T>(IReadOnlyDictionary<string, T> table, string model, out T value)
    {
        if (table.TryGetValue(model, out value!))
        {
            return true;
        }
        var match = table.Where(p => model.StartsWith(p.Key + "-", StringComparison.OrdinalIgnoreCase)).OrderByDescending(p => p.Key.Length).ToList();
        value = match.Count > 0 ? match[0].Value : default!;
        return match.Count > 0;
    }
}
