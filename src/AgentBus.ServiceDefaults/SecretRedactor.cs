using System.Text;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Configuration;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// The secret values this process was configured with: every configuration value whose key names a
/// password, secret, API key or token, and the Password= part of every connection string, each also
/// in base64 (Basic auth) and URL-encoded form.
/// </summary>
/// <remarks>
/// Microsoft.Extensions.Compliance.Redaction redacts values a developer classified in advance; a
/// connection string or provider error that happens to contain a key is not classified, so this
/// matches the known values themselves, wherever they appear.
/// </remarks>
public sealed partial class SecretRedactor
{
    public const string Mask = "***";

    /// <summary>Shorter values would mask ordinary words; generated passwords and keys are far longer.</summary>
    private const int MinLength = 8;

    private static readonly string[] SecretKeyEndings = ["password", "pwd", "secret", "apikey", "token", "accesskey", "privatekey", "signingkey"];

    private readonly string[] _secrets;

    public SecretRedactor(IEnumerable<string> secrets) =>
        _secrets = secrets.Where(s => s.Length >= MinLength)
            .SelectMany(s => new[] { s, Convert.ToBase64String(Encoding.UTF8.GetBytes(s)), Uri.EscapeDataString(s) })
            .Distinct(StringComparer.Ordinal)
            .OrderByDescending(s => s.Length) // a longer form first, so no fragment of it is left behind
            .ToArray();

    public static SecretRedactor FromConfiguration(IConfiguration configuration)
    {
        var secrets = new List<string>();
        foreach (var (key, value) in configuration.AsEnumerable())
        {
            if (string.IsNullOrWhiteSpace(value))
            {
                continue;
            }
            var name = key.Split(':')[^1].Replace("-", "", StringComparison.Ordinal).Replace("_", "", StringComparison.Ordinal);
            if (SecretKeyEndings.Any(e => name.EndsWith(e, StringComparison.OrdinalIgnoreCase)))
            {
                secrets.Add(value);
            }
            // Npgsql (Password=...;) and StackExchange.Redis (...,password=...) connection strings.
            secrets.AddRange(ConnectionStringPassword().Matches(value).Select(m => m.Groups["value"].Value.Trim()));
        }
        return new SecretRedactor(secrets);
    }

    public bool Any => _secrets.Length > 0;

    public bool Contains(string? text) => text is not null && _secrets.Any(s => text.Contains(s, StringComparison.Ordinal));

    public string Redact(string text) => _secrets.Aggregate(text, (t, s) => t.Replace(s, Mask, StringComparison.Ordinal));

    [GeneratedRegex(@"(?:^|[;,])\s*(?:password|pwd)\s*=\s*(?<value>[^;,]+)", RegexOptions.IgnoreCase)]
    private static partial Regex ConnectionStringPassword();
}
