using System.Buffers;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging.Console;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// One flat JSON object per line: timestamp, level, category, message, event, exception, then every
/// structured value of the message and its scopes with snake_case keys (job_id, trace_id, ...).
/// The built-in JSON formatter nests state and scopes, which Loki's `| json` cannot filter on.
/// </summary>
public sealed class JsonLineFormatter() : ConsoleFormatter(FormatterName)
{
    public const string FormatterName = "agentbus-json";
    private const string OriginalFormat = "{OriginalFormat}";

    public override void Write<TState>(in LogEntry<TState> logEntry, IExternalScopeProvider? scopeProvider, TextWriter textWriter)
    {
        var message = logEntry.Formatter(logEntry.State, logEntry.Exception);
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("timestamp", DateTimeOffset.UtcNow);
            json.WriteString("level", LevelName(logEntry.LogLevel));
            json.WriteString("category", logEntry.Category);
            json.WriteString("message", message);
            if (!string.IsNullOrEmpty(logEntry.EventId.Name))
            {
                json.WriteString("event", logEntry.EventId.Name);
            }
            if (logEntry.Exception is { } exception)
            {
                json.WriteString("exception", exception.ToString());
            }

            var written = new HashSet<string>(StringComparer.Ordinal) { "timestamp", "level", "category", "message", "event", "exception" };
            if (logEntry.State is IEnumerable<KeyValuePair<string, object?>> state)
            {
                WriteValues(json, state, written);
            }
            scopeProvider?.ForEachScope((scope, w) =>
            {
                if (scope is IEnumerable<KeyValuePair<string, object?>> values)
                {
                    WriteValues(w, values, written);
                }
            }, json);
            json.WriteEndObject();
        }
        textWriter.Write(Encoding.UTF8.GetString(buffer.WrittenSpan));
        textWriter.Write('\n');
    }

    private static void WriteValues(Utf8JsonWriter json, IEnumerable<KeyValuePair<string, object?>> values, HashSet<string> written)
    {
        foreach (var (key, value) in values)
        {
            if (key == OriginalFormat)
            {
                continue;
            }
            var name = JsonNamingPolicy.SnakeCaseLower.ConvertName(key);
            if (!written.Add(name))
            {
                continue;
            }
            switch (value)
            {
                case null: json.WriteNull(name); break;
                case bool b: json.WriteBoolean(name, b); break;
                case int i: json.WriteNumber(name, i); break;
                case long l: json.WriteNumber(name, l); break;
                case double d when double.IsFinite(d): json.WriteNumber(name, d); break;
                case decimal m: json.WriteNumber(name, m); break;
                default: json.WriteString(name, Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture)); break;
            }
        }
    }

    private static string LevelName(LogLevel level) => level switch
    {
        LogLevel.Trace => "trace",
        LogLevel.Debug => "debug",
        LogLevel.Information => "info",
        LogLevel.Warning => "warning",
        LogLevel.Error => "error",
        LogLevel.Critical => "critical",
        _ => "none",
    };
}
