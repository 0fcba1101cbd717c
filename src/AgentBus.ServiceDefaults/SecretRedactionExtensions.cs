using System.Globalization;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.Hosting;

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
