using System.Globalization;

namespace AgentBus.Web.Components.Shared;

/// <summary>How the pages write times, durations and money: the same everywhere, in UTC.</summary>
public static class Display
{
    public static string Time(DateTime? utc) =>
        utc is { } t ? DateTime.SpecifyKind(t, DateTimeKind.Utc).ToString("yyyy-MM-dd HH:mm:ss 'UTC'", CultureInfo.InvariantCulture) : "";

    public static string Time(DateTimeOffset? utc) => Time(utc?.UtcDateTime);

    public static string Duration(DateTime? start, DateTime? end)
    {
        if (start is not { } s || end is not { } e)
        {
            return "";
        }
        var d = e - s;
        return d.TotalSeconds < 60 ? $"{d.TotalSeconds:0.0} s" : d.TotalMinutes < 60 ? $"{(int)d.TotalMinutes} min {d.Seconds} s" : $"{(int)d.TotalHours} h {d.Minutes} min";
    }

    public static string Usd(decimal? amount) =>
        amount is { } a ? "$" + a.ToString(a < 1 ? "0.0000" : "#,0.00", CultureInfo.InvariantCulture) : "not priced";

    public static string Count(long n) => n.ToString("#,0", CultureInfo.InvariantCulture);

    public static string Words(string? name) => (name ?? "").Replace('_', ' ');

    private static readonly Dictionary<string, string> StageNames = new()
    {
        ["prd"] = "PRD", ["approval"] = "Approval", ["plan"] = "Plan", ["architecture"] = "Architecture", ["uiux"] = "UI/UX",
        ["development"] = "Development", ["qa"] = "QA", ["security"] = "Security", ["documentation"] = "Documentation",
        ["support_docs"] = "Support docs", ["pm_review"] = "PM review", ["delivery"] = "Delivery",
    };

    /// <summary>A stage (or its artifact) as people name it: PRD, UI/UX, QA, PM review.</summary>
    public static string Stage(string? name) => name is not null && StageNames.TryGetValue(name, out var shown) ? shown : Words(name);
}
