using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AgentBus.IntegrationTests.Observability;

/// <summary>
/// An OTLP/HTTP receiver on loopback, as a collector would be: POST /v1/traces with protobuf
/// (OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf) is decoded into <see cref="Spans"/>; logs and
/// metrics are accepted and counted. The OTLP protobuf messages are read by a small wire-format
/// reader for the few fields the tests need (the proto package is not available here).
/// </summary>
public sealed class OtlpReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;

    public ConcurrentQueue<ExportedSpan> Spans { get; } = new();

    /// <summary>Export requests by path (/v1/traces, /v1/logs, /v1/metrics).</summary>
    public ConcurrentDictionary<string, int> Requests { get; } = new();

    public ConcurrentQueue<string> Errors { get; } = new();

    /// <summary>Every export request's raw body, by path: strings travel in protobuf as plain UTF-8.</summary>
    public ConcurrentQueue<(string Path, byte[] Body)> Raw { get; } = new();

    /// <summary>The service.name of every export request, with its path: "/v1/metrics gpu-agent".</summary>
    public ConcurrentDictionary<string, int> ExportsByService { get; } = new();

    public Uri BaseUrl { get; private set; } = null!;

    private OtlpReceiver()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        _app = builder.Build();
        _app.MapPost("/v1/{signal}", Receive);
    }

    public static async Task<OtlpReceiver> StartAsync()
    {
        var receiver = new OtlpReceiver();
        await receiver._app.StartAsync();
        receiver.BaseUrl = new Uri(receiver._app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
        return receiver;
    }

    private async Task Receive(HttpContext context)
    {
        var path = context.Request.Path.Value!;
        Requests.AddOrUpdate(path, 1, (_, n) => n + 1);
        using var body = new MemoryStream();
        await context.Request.Body.CopyToAsync(body);
        Raw.Enqueue((path, body.ToArray()));
        // Every Export*ServiceRequest: 1 resource_* (1 resource (1 attributes)).
        foreach (var service in Proto.Messages(body.ToArray(), 1)
                     .SelectMany(r => Proto.Messages(r, 1)).Select(r => Attributes(r, 1).GetValueOrDefault("service.name", "")).Distinct())
        {
            ExportsByService.AddOrUpdate($"{path} {service}", 1, (_, n) => n + 1);
        }
        if (path == "/v1/traces")
        {
            try
            {
                if (context.Request.ContentType != "application/x-protobuf")
                {
                    throw new InvalidDataException($"content type {context.Request.ContentType}");
                }
                foreach (var span in DecodeTraces(body.ToArray()))
                {
                    Spans.Enqueue(span);
                }
            }
            catch (InvalidDataException e)
            {
                Errors.Enqueue(e.Message);
                context.Response.StatusCode = StatusCodes.Status400BadRequest;
                return;
            }
        }
        // An empty Export*ServiceResponse: full success.
        context.Response.ContentType = "application/x-protobuf";
    }

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();

    // ---- OTLP trace decoding (opentelemetry/proto/collector/trace/v1, trace/v1, common/v1) ------

    /// <summary>ExportTraceServiceRequest: 1 resource_spans.</summary>
    public static IEnumerable<ExportedSpan> DecodeTraces(byte[] request)
    {
        var spans = new List<ExportedSpan>();
        foreach (var resourceSpans in Proto.Messages(request, 1))
        {
            // ResourceSpans: 1 resource (1 attributes), 2 scope_spans.
            var resource = Proto.Messages(resourceSpans, 1).Select(r => Attributes(r, 1)).FirstOrDefault() ?? [];
            var service = resource.GetValueOrDefault("service.name", "");
            foreach (var scopeSpans in Proto.Messages(resourceSpans, 2))
            {
                // ScopeSpans: 1 scope (1 name), 2 spans.
                var scope = Proto.Messages(scopeSpans, 1).Select(s => Proto.String(s, 1)).FirstOrDefault() ?? "";
                foreach (var span in Proto.Messages(scopeSpans, 2))
                {
                    // Span: 1 trace_id, 2 span_id, 4 parent_span_id, 5 name, 6 kind, 7 start and 8 end
                    // (fixed64 Unix nanoseconds), 9 attributes, 13 links.
                    var parent = Proto.Hex(span, 4);
                    spans.Add(new ExportedSpan(service, scope, Proto.Hex(span, 1), Proto.Hex(span, 2), parent.Length == 0 ? null : parent,
                        Proto.String(span, 5), (int)Proto.Varint(span, 6), Attributes(span, 9),
                        Proto.Messages(span, 13).Select(l => (Proto.Hex(l, 1), Proto.Hex(l, 2))).ToList(),
                        UnixNanos(Proto.Varint(span, 7)), UnixNanos(Proto.Varint(span, 8))));
                }
            }
        }
        return spans;
    }

    private static DateTimeOffset UnixNanos(ulong nanos) => DateTimeOffset.UnixEpoch.AddTicks((long)(nanos / 100));

    /// <summary>repeated KeyValue (1 key, 2 AnyValue) as strings.</summary>
    private static Dictionary<string, string> Attributes(ReadOnlyMemory<byte> message, int field)
    {
        var attributes = new Dictionary<string, string>();
        foreach (var kv in Proto.Messages(message, field))
        {
            attributes[Proto.String(kv, 1)] = Proto.Messages(kv, 2).Select(AnyValue).FirstOrDefault() ?? "";
        }
        return attributes;
    }

    /// <summary>AnyValue: 1 string, 2 bool, 3 int64, 4 double; arrays and maps are not needed.</summary>
    private static string AnyValue(ReadOnlyMemory<byte> value)
    {
        foreach (var f in Proto.Fields(value))
        {
            return f.Number switch
            {
                1 => Encoding.UTF8.GetString(f.Bytes.Span),
                2 => f.Value != 0 ? "true" : "false",
                3 => ((long)f.Value).ToString(CultureInfo.InvariantCulture),
                4 => BitConverter.UInt64BitsToDouble(f.Value).ToString(CultureInfo.InvariantCulture),
                _ => $"(field {f.Number})",
            };
        }
        return "";
    }

    /// <summary>The protobuf wire format: varint, fixed64, length-delimited and fixed32 fields.</summary>
    private static class Proto
    {
        public readonly record struct Field(int Number, ulong Value, ReadOnlyMemory<byte> Bytes);

        public static List<Field> Fields(ReadOnlyMemory<byte> message)
        {
            var fields = new List<Field>();
            var span = message.Span;
            var pos = 0;
            while (pos < span.Length)
            {
                var key = ReadVarint(span, ref pos);
                var number = (int)(key >> 3);
                switch ((int)(key & 7))
                {
                    case 0:
                        fields.Add(new Field(number, ReadVarint(span, ref pos), default));
                        break;
                    case 1:
                        Need(span, pos, 8);
                        fields.Add(new Field(number, BinaryPrimitives.ReadUInt64LittleEndian(span[pos..]), default));
                        pos += 8;
                        break;
                    case 2:
                        var length = (int)ReadVarint(span, ref pos);
                        Need(span, pos, length);
                        fields.Add(new Field(number, 0, message.Slice(pos, length)));
                        pos += length;
                        break;
                    case 5:
                        Need(span, pos, 4);
                        fields.Add(new Field(number, BinaryPrimitives.ReadUInt32LittleEndian(span[pos..]), default));
                        pos += 4;
                        break;
                    default:
                        throw new InvalidDataException($"unsupported wire type {key & 7} at byte {pos}");
                }
            }
            return fields;
        }

        public static IEnumerable<ReadOnlyMemory<byte>> Messages(ReadOnlyMemory<byte> message, int number) =>
            Fields(message).Where(f => f.Number == number).Select(f => f.Bytes);

        public static string String(ReadOnlyMemory<byte> message, int number) =>
            Fields(message).Where(f => f.Number == number).Select(f => Encoding.UTF8.GetString(f.Bytes.Span)).LastOrDefault() ?? "";

        public static string Hex(ReadOnlyMemory<byte> message, int number) =>
            Fields(message).Where(f => f.Number == number).Select(f => Convert.ToHexStringLower(f.Bytes.Span)).LastOrDefault() ?? "";

        public static ulong Varint(ReadOnlyMemory<byte> message, int number) =>
            Fields(message).Where(f => f.Number == number).Select(f => f.Value).LastOrDefault();

        private static ulong ReadVarint(ReadOnlySpan<byte> span, ref int pos)
        {
            ulong value = 0;
            for (var shift = 0; shift < 64; shift += 7)
            {
                Need(span, pos, 1);
                var b = span[pos++];
                value |= (ulong)(b & 0x7F) << shift;
                if (b < 0x80)
                {
                    return value;
                }
            }
            throw new InvalidDataException("varint longer than 10 bytes");
        }

        private static void Need(ReadOnlySpan<byte> span, int pos, int count)
        {
            if (count < 0 || pos + count > span.Length)
            {
                throw new InvalidDataException($"truncated message: {count} bytes needed at {pos} of {span.Length}");
            }
        }
    }
}
