using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

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

public static class SecretRedactionExtensions
{
    /// <summary>
    /// Wraps the logger factory so every provider (the JSON console formatter and the OTLP exporter
    /// alike) receives messages, state values and exceptions with the configured secrets masked.
    /// </summary>
    public static IServiceCollection AddSecretRedaction(this IServiceCollection services)
    {
        services.Replace(ServiceDescriptor.Singleton<ILoggerFactory>(sp => new RedactingLoggerFactory(
            new LoggerFactory(sp.GetServices<ILoggerProvider>(), sp.GetRequiredService<IOptionsMonitor<LoggerFilterOptions>>(),
                sp.GetService<IOptions<LoggerFactoryOptions>>(), sp.GetService<IExternalScopeProvider>()),
            SecretRedactor.FromConfiguration(sp.GetRequiredService<IConfiguration>()))));
        return services;
    }
}

internal sealed class RedactingLoggerFactory(ILoggerFactory inner, SecretRedactor redactor) : ILoggerFactory
{
    public ILogger CreateLogger(string categoryName) =>
        redactor.Any ? new RedactingLogger(inner.CreateLogger(categoryName), redactor) : inner.CreateLogger(categoryName);

    public void AddProvider(ILoggerProvider provider) => inner.AddProvider(provider);

    public void Dispose() => inner.Dispose();
}

internal sealed class RedactingLogger(ILogger inner, SecretRedactor redactor) : ILogger
{
    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => inner.BeginScope(state);

    public bool IsEnabled(LogLevel logLevel) => inner.IsEnabled(logLevel);

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (!inner.IsEnabled(logLevel))
        {
            return;
        }
        var message = formatter(state, exception);
        var values = state as IReadOnlyList<KeyValuePair<string, object?>> ?? [];
        var exceptionText = exception?.ToString();
        if (!redactor.Contains(message) && !redactor.Contains(exceptionText) && !values.Any(v => redactor.Contains(Text(v.Value))))
        {
            inner.Log(logLevel, eventId, state, exception, formatter); // the common case: passed on untouched
            return;
        }
        var redactedMessage = redactor.Redact(message);
        var redactedValues = values.Select(v => Text(v.Value) is { } text && redactor.Contains(text)
            ? new KeyValuePair<string, object?>(v.Key, redactor.Redact(text))
            : v).ToList();
        var redactedException = exception is null ? null
            : redactor.Contains(exceptionText) ? new RedactedException(exception, redactor) : exception;
        inner.Log(logLevel, eventId, new RedactedState(redactedValues, redactedMessage), redactedException, static (s, _) => s.Message);
    }

    /// <summary>Secrets are text: value types (ids, counts, times) are not looked into.</summary>
    private static string? Text(object? value) => value switch
    {
        null or ValueType => null,
        string s => s,
        _ => Convert.ToString(value, CultureInfo.InvariantCulture),
    };

    /// <summary>Structured values as providers read them (the OTLP exporter turns them into attributes).</summary>
    private sealed class RedactedState(List<KeyValuePair<string, object?>> values, string message) : IReadOnlyList<KeyValuePair<string, object?>>
    {
        public string Message { get; } = message;
        public KeyValuePair<string, object?> this[int index] => values[index];
        public int Count => values.Count;
        public IEnumerator<KeyValuePair<string, object?>> GetEnumerator() => values.GetEnumerator();
        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
        public override string ToString() => Message;
    }
}

/// <summary>
/// Stands in for an exception whose message or inner exceptions held a secret: its Message and
/// ToString() are the original's, masked, so the original type name and stack stay readable.
/// </summary>
public sealed class RedactedException(Exception original, SecretRedactor redactor) : Exception(redactor.Redact(original.Message))
{
    private readonly string _text = redactor.Redact(original.ToString());

    public override string? StackTrace => null; // part of ToString() already

    public override string ToString() => _text;
}
