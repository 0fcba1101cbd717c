using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using AgentBus.Llm;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AgentBus.Testing;

/// <summary>
/// A local HTTP endpoint speaking the real wire formats of Anthropic's Messages API
/// (POST /v1/messages) and OpenAI's Chat Completions (POST /v1/chat/completions). By default it
/// answers like a model would, writing each agent's document with the offline writer and reporting
/// usage with cache fields; tests can script failures (status codes, Retry-After, hangs) first.
/// </summary>
public sealed class FakeModelServer : IAsyncDisposable
{
    public sealed record Seen(string Path, IReadOnlyDictionary<string, string> Headers, JsonObject Body, DateTime At);
    /// <param name="Body">Sent as is instead of an error or an answer (garbage, truncated or wrong-shaped JSON).</param>
    public sealed record Scripted(int Status, string? RetryAfter = null, TimeSpan Delay = default, string? Body = null);

    private readonly WebApplication _app;
    private readonly ConcurrentQueue<Scripted> _script = new();
    private readonly OfflineChatClient _writer;

    public ConcurrentQueue<Seen> Requests { get; } = new();

    /// <summary>Cached input tokens reported per call (Anthropic cache read / OpenAI cached_tokens).</summary>
    public int CachedTokens { get; set; } = 64;

    /// <summary>Anthropic cache_creation_input_tokens reported per call.</summary>
    public int CacheWriteTokens { get; set; } = 16;

    public Uri BaseUrl { get; private set; } = null!;

    private FakeModelServer(OfflineOptions? writer)
    {
        _writer = new OfflineChatClient(writer ?? new OfflineOptions { Latency = TimeSpan.Zero });
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        _app = builder.Build();
        _app.MapPost("/v1/messages", ctx => Answer(ctx, anthropic: true));
        _app.MapPost("/v1/chat/completions", ctx => Answer(ctx, anthropic: false));
    }

    /// <param name="writer">How the answers are written, e.g. with a per-agent latency.</param>
    public static async Task<FakeModelServer> StartAsync(OfflineOptions? writer = null)
    {
        var server = new FakeModelServer(writer);
        await server._app.StartAsync();
        server.BaseUrl = new Uri(server._app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
        return server;
    }

    /// <summary>Scripted answers not yet given.</summary>
    public int Pending => _script.Count;

    public void Clear() => _script.Clear();

    public void Then(params Scripted[] responses)
    {
        foreach (var r in responses)
        {
            _script.Enqueue(r);
        }
    }

    private async Task Answer(HttpContext context, bool anthropic)
    {
        var body = (await JsonNode.ParseAsync(context.Request.Body))!.AsObject();
        Requests.Enqueue(new Seen(context.Request.Path, context.Request.Headers.ToDictionary(h => h.Key.ToLowerInvariant(), h => h.Value.ToString()), body, DateTime.UtcNow));
        if (_script.TryDequeue(out var scripted))
        {
            await Task.Delay(scripted.Delay, context.RequestAborted);
            if (scripted.Body is { } raw)
            {
                context.Response.StatusCode = scripted.Status;
                context.Response.ContentType = "application/json";
                await context.Response.WriteAsync(raw);
                return;
            }
            if (scripted.Status != 200)
            {
                context.Response.StatusCode = scripted.Status;
                if (scripted.RetryAfter is { } retryAfter)
                {
                    context.Response.Headers["retry-after"] = retryAfter;
                }
                await context.Response.WriteAsJsonAsync(anthropic
                    ? new JsonObject { ["type"] = "error", ["error"] = new JsonObject { ["type"] = ErrorType(scripted.Status), ["message"] = "scripted failure" } }
                    : new JsonObject { ["error"] = new JsonObject { ["message"] = "scripted failure", ["type"] = ErrorType(scripted.Status), ["code"] = null } });
                return;
            }
        }

        var model = (string)body["model"]!;
        var system = anthropic ? SystemText(body["system"]) : "";
        var messages = new List<ChatMessage> { new(ChatRole.System, system) };
        foreach (var m in body["messages"]!.AsArray())
        {
            var role = (string)m!["role"]!;
            var text = m["content"] is JsonArray parts ? string.Concat(parts.Select(p => (string?)p!["text"])) : (string?)m["content"] ?? "";
            messages.Add(new ChatMessage(role == "system" ? ChatRole.System : role == "assistant" ? ChatRole.Assistant : ChatRole.User, text));
        }
        var answer = await _writer.GetResponseAsync(messages.Where(m => m.Text.Length > 0).ToList());
        var input = (int)answer.Usage!.InputTokenCount!.Value;
        var output = (int)answer.Usage.OutputTokenCount!.Value;
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync((anthropic
            ? new JsonObject
            {
                ["id"] = $"msg_{Guid.NewGuid():N}", ["type"] = "message", ["role"] = "assistant", ["model"] = model,
                ["content"] = new JsonArray(new JsonObject { ["type"] = "text", ["text"] = answer.Text }),
                ["stop_reason"] = "end_turn", ["stop_sequence"] = null,
                ["usage"] = new JsonObject
                {
                    ["input_tokens"] = input, ["output_tokens"] = output,
                    ["cache_read_input_tokens"] = CachedTokens, ["cache_creation_input_tokens"] = CacheWriteTokens,
                },
            }
            : new JsonObject
            {
                ["id"] = $"chatcmpl-{Guid.NewGuid():N}", ["object"] = "chat.completion", ["created"] = DateTimeOffset.UtcNow.ToUnixTimeSeconds(), ["model"] = model,
                ["choices"] = new JsonArray(new JsonObject
                {
                    ["index"] = 0, ["message"] = new JsonObject { ["role"] = "assistant", ["content"] = answer.Text }, ["finish_reason"] = "stop",
                }),
                ["usage"] = new JsonObject
                {
                    ["prompt_tokens"] = input + CachedTokens, ["completion_tokens"] = output, ["total_tokens"] = input + CachedTokens + output,
                    ["prompt_tokens_details"] = new JsonObject { ["cached_tokens"] = CachedTokens },
                },
            }).ToJsonString());
    }

    private static string SystemText(JsonNode? system) =>
        system is JsonArray blocks ? string.Concat(blocks.Select(b => (string?)b!["text"])) : (string?)system ?? "";

    private static string ErrorType(int status) => status switch
    {
        429 => "rate_limit_error",
        529 => "overloaded_error",
        401 => "authentication_error",
        _ => "api_error",
    };

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();
}
