using System.Text.RegularExpressions;

namespace AgentBus.Deploy.Tests;

/// <summary>Recognises values that look like credentials. References such as $(VAR), ${VAR} or
/// $VAR are not credentials, and neither are words like "tokens" in a metric name.</summary>
public static partial class SecretDetector
{
    [GeneratedRegex(@"(?i)\b(password|passwd|pwd|secret|api[_-]?key|access[_-]?key|token|auth)[""']?\s*[=:]\s*[""']?(?!\$|(?:true|false|null)\b)[^\s""',;}{]{3,}")]
    private static partial Regex Assignment();

    [GeneratedRegex(@"[a-z][a-z0-9+.-]*://[^/\s:@]+:(?!\$)[^/\s@]+@")]
    private static partial Regex UrlCredentials();

    [GeneratedRegex(@"-----BEGIN [A-Z ]*PRIVATE KEY-----|\bAKIA[0-9A-Z]{16}\b|\bsk-[A-Za-z0-9_-]{16,}|\bgh[pousr]_[A-Za-z0-9]{20,}|\beyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.")]
    private static partial Regex KnownFormats();

    [GeneratedRegex(@"(?i)(password|secret|token|api[_-]?key|private[_-]?key|credential)")]
    private static partial Regex SecretKeyName();

    /// <summary>Why a ConfigMap entry looks like a secret, or null.</summary>
    public static string? Check(string key, string value)
    {
        if (SecretKeyName().IsMatch(key) && value.Trim().Length > 0 && !value.TrimStart().StartsWith('$'))
            return $"key '{key}' names a secret";
        if (Assignment().Match(value) is { Success: true } a) return $"credential assignment '{Truncate(a.Value)}'";
        if (UrlCredentials().Match(value) is { Success: true } u) return $"URL with credentials '{Truncate(u.Value)}'";
        if (KnownFormats().Match(value) is { Success: true } k) return $"known secret format '{Truncate(k.Value)}'";
        return null;
    }

    private static string Truncate(string s) => s.Length <= 12 ? s : s[..12] + "...";
}
