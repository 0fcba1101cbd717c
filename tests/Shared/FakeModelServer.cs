using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using AgentBus.Llm;
using Json.Schema;
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
/// answers like a model would, writing each agent's document with the offline writer:
/// <list type="bullet">
/// <item>a request with a JSON schema (OpenAI <c>response_format</c> json_schema, Anthropic
/// <c>output_config.format</c> or the older <c>output_format</c>) gets JSON that validates against it,
/// or a 400 in the vendor's error shape naming the schema errors (so a product schema and the writer
/// that disagree fail loudly);</item>
/// <item>without a schema, a JSON answer of the writer is turned into prose with no braces, as local models do;</item>
/// <item>Anthropic prompt caching is emulated from the request's <c>cache_control</c> breakpoints;
/// OpenAI reports a fixed <see cref="CachedTokens"/>.</item>
/// </list>
/// Tests can script failures (status codes, Retry-After, hangs, raw bodies) and verbatim answers first.
/// </summary>
public sealed partial class FakeModelServer : IAsyncDisposable
{
    /// <param name="HadSchema">The request asked for structured output with a JSON schema.</param>
    /// <param name="AgentType">The agent named by "You are the &lt;agent_type&gt;." anywhere in the request, if any.</param>
    public sealed record Seen(string Path, IReadOnlyDictionary<string, string> Headers, JsonObject Body, DateTime At, bool HadSchema = false, string? AgentType = null);

    /// <param name="Body">Sent as is instead of an error or an answer (garbage, truncated or wrong-shaped JSON).</param>
    /// <param name="Content">With status 200: an answer whose assistant text is exactly this (e.g. broken JSON), in the vendor's format, usage counted like any answer; never validated or rewritten.</param>
    /// <param name="FinishReason">With status 200: the answer's finish reason, e.g. "length" (OpenAI) or "max_tokens" (Anthropic); either name is translated to the vendor's.</param>
    public sealed record Scripted(int Status, string? RetryAfter = null, TimeSpan Delay = default, string? Body = null, string? Content = null, string? FinishReason = null);

    /// <summary>What the server counted for one 200 answer, as reported on the wire.</summary>
    /// <param name="InputTokens">The vendor's input figure: OpenAI prompt_tokens (cached included), Anthropic input_tokens (uncached only).</param>
    /// <param name="UncachedInputTokens">Input tokens neither read from nor written to the cache.</param>
    /// <param name="CacheReadTokens">OpenAI cached_tokens, Anthropic cache_read_input_tokens.</param>
    /// <param name="CacheWriteTokens">Anthropic cache_creation_input_tokens (always 0 for OpenAI).</param>
    public sealed record ServedAnswer(string Path, string Model, string? AgentType, int InputTokens, int UncachedInputTokens, int OutputTokens, int CacheReadTokens, int CacheWriteTokens)
    {
        /// <summary>Every prompt token: uncached + cache read + cache write (what Microsoft.Extensions.AI reports as InputTokenCount for both vendors).</summary>
        public int PromptTokens => UncachedInputTokens + CacheReadTokens + CacheWriteTokens;
    }

    private readonly WebApplication _app;
    private readonly ConcurrentQueue<Scripted> _script = new();
    private readonly ConcurrentQueue<ServedAnswer> _served = new();
    /// <summary>Anthropic prompt-cache entries: prefix hash → prefix tokens.</summary>
    private readonly ConcurrentDictionary<string, int> _cache = new();
    private readonly OfflineChatClient _writer;

    public ConcurrentQueue<Seen> Requests { get; } = new();

    /// <summary>Every 200 answer with usage, in the order given.</summary>
    public IReadOnlyList<ServedAnswer> Served => _served.ToArray();

    /// <summary>OpenAI only: cached input tokens reported per call (prompt_tokens_details.cached_tokens, included in prompt_tokens).</summary>
    public int CachedTokens { get; set; } = 64;

    /// <summary>Anthropic: the shortest prefix that is cached (the documented minimum for Sonnet models).</summary>
    public int MinCacheableTokens { get; set; } = 1024;

    /// <summary>(agentType, answer) → answer: applied to the writer's answers before structured output or prose.</summary>
    public Func<string, string, string>? Rewrite { get; set; }

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
        var prompt = Prompt.Read(body, anthropic);
        var schema = SchemaOf(body, anthropic);
        Requests.Enqueue(new Seen(context.Request.Path, context.Request.Headers.ToDictionary(h => h.Key.ToLowerInvariant(), h => h.Value.ToString()), body, DateTime.UtcNow,
            schema is not null, prompt.AgentType));

        string? content = null;
        string? finish = null;
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
                if (scripted.RetryAfter is { } retryAfter)
                {
                    context.Response.Headers["retry-after"] = retryAfter;
                }
                await Error(context, anthropic, scripted.Status, "scripted failure");
                return;
            }
            content = scripted.Content;
            finish = scripted.FinishReason;
        }

        if (content is null)
        {
            if (prompt.AgentType is not { } agentType)
            {
                await Error(context, anthropic, 400, "the fake model server needs the prompt to name the agent ('You are the <agent_type>.')");
                return;
            }
            string answer;
            try
            {
                answer = (await _writer.GetResponseAsync(prompt.ForWriter(), cancellationToken: context.RequestAborted)).Text;
            }
            catch (OfflineProviderException e)
            {
                await Error(context, anthropic, 500, e.Message);
                return;
            }
            if (Rewrite is { } rewrite)
            {
                answer = rewrite(agentType, answer);
            }
            if (schema is not null)
            {
                if (Violations(schema, answer) is { } problem)
                {
                    await Error(context, anthropic, 400, $"{prompt.AgentType}'s answer does not match the request's JSON schema: {problem}");
                    return;
                }
            }
            else if (answer.TrimStart().StartsWith('{') && !JsonMode(body, anthropic))
            {
                answer = Prose(answer);
            }
            content = answer;
        }

        var model = (string?)body["model"] ?? "";
        var output = OfflineChatClient.CountTokens(content);
        var (uncached, read, write) = anthropic ? Cache(model, prompt) : (prompt.Tokens, CachedTokens, 0);
        var served = new ServedAnswer(context.Request.Path, model, prompt.AgentType, anthropic ? uncached : uncached + read, uncached, output, read, write);
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync((anthropic
            ? new JsonObject
            {
                ["id"] = $"msg_{Guid.NewGuid():N}", ["type"] = "message", ["role"] = "assistant", ["model"] = model,
                ["content"] = new JsonArray(new JsonObject { ["type"] = "text", ["text"] = content }),
                ["stop_reason"] = finish switch { null => "end_turn", "length" => "max_tokens", _ => finish }, ["stop_sequence"] = null,
                ["usage"] = new JsonObject
                {
                    ["input_tokens"] = uncached, ["output_tokens"] = output,
                    ["cache_read_input_tokens"] = read, ["cache_creation_input_tokens"] = write,
                },
            }
            : new JsonObject
            {
                ["id"] = $"chatcmpl-{Guid.NewGuid():N}", ["object"] = "chat.completion", ["created"] = DateTimeOffset.UtcNow.ToUnixTimeSeconds(), ["model"] = model,
                ["choices"] = new JsonArray(new JsonObject
                {
                    ["index"] = 0, ["message"] = new JsonObject { ["role"] = "assistant", ["content"] = content },
                    ["finish_reason"] = finish switch { null => "stop", "max_tokens" => "length", _ => finish },
                }),
                ["usage"] = new JsonObject
                {
                    ["prompt_tokens"] = uncached + read, ["completion_tokens"] = output, ["total_tokens"] = uncached + read + output,
                    ["prompt_tokens_details"] = new JsonObject { ["cached_tokens"] = read },
                },
            }).ToJsonString());
        _served.Enqueue(served);
    }

    /// <summary>
    /// Anthropic's prompt cache, as the API keeps it: the prompt is tools, then system blocks, then the
    /// messages' content blocks; each block with cache_control ends a cacheable prefix, known by a hash
    /// of everything up to it (model included). The longest prefix already cached is read; the
    /// breakpoint prefixes beyond it that are long enough are written (and billed past the read part).
    /// </summary>
    private (int Uncached, int Read, int Write) Cache(string model, Prompt prompt)
    {
        var blocks = prompt.Blocks;
        var last = blocks.FindLastIndex(b => b.Breakpoint);
        if (last < 0)
        {
            return (prompt.Tokens, 0, 0);
        }
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(Encoding.UTF8.GetBytes(model + "\n"));
        var prefixes = new List<(string Hash, int Tokens, bool Breakpoint)>();
        var tokens = 0;
        foreach (var block in blocks.Take(last + 1))
        {
            hash.AppendData(Encoding.UTF8.GetBytes(block.Canonical + "\n"));
            tokens += block.Tokens;
            prefixes.Add((Convert.ToHexString(hash.GetCurrentHash()), tokens, block.Breakpoint));
        }
        // The API looks back from each breakpoint for an entry at an earlier block boundary.
        var hit = prefixes.FindLastIndex(p => _cache.ContainsKey(p.Hash));
        var read = hit < 0 ? 0 : prefixes[hit].Tokens;
        var written = prefixes.Skip(hit + 1).Where(p => p.Breakpoint && p.Tokens >= MinCacheableTokens).ToList();
        foreach (var p in written)
        {
            _cache[p.Hash] = p.Tokens;
        }
        var write = written.Count == 0 ? 0 : written[^1].Tokens - read;
        return (Math.Max(0, prompt.Tokens - read - write), read, write);
    }

    /// <summary>The JSON schema the request asks the answer to follow, if any.</summary>
    private static JsonNode? SchemaOf(JsonObject body, bool anthropic)
    {
        var format = anthropic ? body["output_config"]?["format"] ?? body["output_format"] : body["response_format"];
        return format is JsonObject f && (string?)f["type"] == "json_schema"
            ? anthropic ? f["schema"] : f["json_schema"]?["schema"]
            : null;
    }

    /// <summary>OpenAI's JSON mode without a schema (response_format json_object): JSON is asked for, but nothing to validate it against.</summary>
    private static bool JsonMode(JsonObject body, bool anthropic) => !anthropic && (string?)body["response_format"]?["type"] == "json_object";

    /// <summary>Why <paramref name="answer"/> is not JSON valid against <paramref name="schema"/>, or null when it is.</summary>
    private static string? Violations(JsonNode schema, string answer)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(answer);
        }
        catch (JsonException e)
        {
            return $"the answer is not JSON ({e.Message}): {Shorten(answer)}";
        }
        using (document)
        {
            var results = JsonSchema.FromText(schema.ToJsonString(), new BuildOptions { SchemaRegistry = new SchemaRegistry() })
                .Evaluate(document.RootElement, new EvaluationOptions { OutputFormat = OutputFormat.List });
            if (results.IsValid)
            {
                return null;
            }
            // Properties the schema does not allow (additionalProperties: false, as the SDKs send it) come last.
            var errors = (results.Details ?? []).Prepend(results)
                .Where(d => d.Errors is { Count: > 0 })
                .Select(d => (Extra: d.EvaluationPath.ToString().EndsWith("/additionalProperties", StringComparison.Ordinal), Result: d))
                .OrderBy(d => d.Extra)
                .SelectMany(d => d.Extra
                    ? [$"{Where(d.Result)}: not allowed by the schema (additionalProperties is false)"]
                    : d.Result.Errors!.Select(e => $"{Where(d.Result)}: {e.Value} ({e.Key})"))
                .Take(8).ToList();
            return errors.Count > 0 ? string.Join("; ", errors) : "invalid";

            static string Where(EvaluationResults result) => result.InstanceLocation.ToString() is { Length: > 0 } at ? at : "(root)";
        }
    }

    /// <summary>A JSON answer as a model asked for no JSON writes it: prose, with no braces.</summary>
    private static string Prose(string json)
    {
        JsonElement root;
        try
        {
            root = JsonDocument.Parse(json).RootElement;
        }
        catch (JsonException)
        {
            return json.Replace('{', '(').Replace('}', ')');
        }
        var text = new StringBuilder();
        if (root.ValueKind == JsonValueKind.Object && root.TryGetProperty("milestones", out var milestones) && milestones.ValueKind == JsonValueKind.Array)
        {
            text.Append("Here is the plan I propose.\n");
            foreach (var m in milestones.EnumerateArray())
            {
                text.Append($"\nMilestone {Str(m, "id")}: {Str(m, "name")}. Goal: {Str(m, "goal")}.\n");
                foreach (var t in m.TryGetProperty("tasks", out var tasks) && tasks.ValueKind == JsonValueKind.Array ? tasks.EnumerateArray() : default)
                {
                    text.Append($"- Task {Str(t, "id")}: {Str(t, "title")}, {Str(t, "estimate_days")} {(Str(t, "estimate_days") == "1" ? "day" : "days")}");
                    if (List(t, "requirements") is { Length: > 0 } requirements)
                    {
                        text.Append($", covers {requirements}");
                    }
                    if (List(t, "depends_on") is { Length: > 0 } after)
                    {
                        text.Append($", after {after}");
                    }
                    text.Append(".\n");
                }
            }
            if (List(root, "assumptions") is { Length: > 0 } assumptions)
            {
                text.Append($"\nAssumptions: {assumptions}.\n");
            }
        }
        else
        {
            text.Append("Here is what I propose.\n\n");
            Lines(text, "", root);
        }
        return text.Replace('{', '(').Replace('}', ')').ToString();

        static string Str(JsonElement e, string name) =>
            e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) ? v.ValueKind == JsonValueKind.String ? v.GetString()! : v.ToString() : "";
        static string List(JsonElement e, string name) =>
            e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Array
                ? string.Join("; ", v.EnumerateArray().Select(i => i.ValueKind == JsonValueKind.String ? i.GetString() : i.ToString()))
                : "";
        static void Lines(StringBuilder text, string label, JsonElement e)
        {
            switch (e.ValueKind)
            {
                case JsonValueKind.Object:
                    foreach (var p in e.EnumerateObject())
                    {
                        Lines(text, label.Length == 0 ? p.Name : $"{label} {p.Name}", p.Value);
                    }
                    break;
                case JsonValueKind.Array:
                    var i = 0;
                    foreach (var item in e.EnumerateArray())
                    {
                        Lines(text, $"{label} {++i}", item);
                    }
                    break;
                default:
                    text.Append($"- {label.Replace('_', ' ')}: {(e.ValueKind == JsonValueKind.String ? e.GetString() : e.ToString())}\n");
                    break;
            }
        }
    }

    private static async Task Error(HttpContext context, bool anthropic, int status, string message)
    {
        context.Response.StatusCode = status;
        await context.Response.WriteAsJsonAsync(anthropic
            ? new JsonObject { ["type"] = "error", ["error"] = new JsonObject { ["type"] = ErrorType(status), ["message"] = message } }
            : new JsonObject { ["error"] = new JsonObject { ["message"] = message, ["type"] = ErrorType(status), ["param"] = null, ["code"] = null } });
    }

    private static string ErrorType(int status) => status switch
    {
        400 => "invalid_request_error",
        429 => "rate_limit_error",
        529 => "overloaded_error",
        401 => "authentication_error",
        _ => "api_error",
    };

    private static string Shorten(string text) => text.Length <= 200 ? text : text[..200] + "…";

    /// <summary>
    /// A request's prompt: its blocks in Anthropic's cache order (tools, system, messages), each with
    /// its text's tokens, the texts the writer needs, and the agent it names.
    /// </summary>
    private sealed record Prompt(List<Prompt.Block> Blocks, string System, string FirstUser, string? AgentType)
    {
        public sealed record Block(string Canonical, int Tokens, bool Breakpoint);

        public int Tokens => Blocks.Sum(b => b.Tokens);

        /// <summary>
        /// The system text and the first user message only: a repair turn (the bad answer and the
        /// problem) must not reach the writer. The agent's line is added as a system line when it is
        /// elsewhere, so the writer finds it wherever the request put it.
        /// </summary>
        public List<ChatMessage> ForWriter()
        {
            var messages = new List<ChatMessage>();
            if (System.Length > 0)
            {
                messages.Add(new ChatMessage(ChatRole.System, System));
            }
            if (AgentType is { } agent && !System.Contains($"You are the {agent}.", StringComparison.Ordinal))
            {
                messages.Add(new ChatMessage(ChatRole.System, $"You are the {agent}."));
            }
            messages.Add(new ChatMessage(ChatRole.User, FirstUser));
            return messages;
        }

        public static Prompt Read(JsonObject body, bool anthropic)
        {
            var blocks = new List<Block>();
            var system = new StringBuilder();
            var all = new StringBuilder();
            string? firstUser = null;
            foreach (var tool in (body["tools"] as JsonArray ?? new JsonArray()).OfType<JsonNode>())
            {
                blocks.Add(BlockOf("tool", tool, null));
            }
            if (anthropic)
            {
                foreach (var block in Parts(body["system"]))
                {
                    blocks.Add(BlockOf("system", block, Text(block)));
                    system.Append(Text(block));
                }
            }
            foreach (var message in (body["messages"] as JsonArray ?? new JsonArray()).OfType<JsonObject>())
            {
                var role = (string?)message["role"] ?? "user";
                var text = new StringBuilder();
                foreach (var block in Parts(message["content"]))
                {
                    blocks.Add(BlockOf($"message:{role}", block, Text(block)));
                    text.Append(Text(block));
                }
                if (role is "system" or "developer")
                {
                    system.Append(system.Length > 0 ? "\n" : "").Append(text);
                }
                else
                {
                    if (role == "user")
                    {
                        firstUser ??= text.ToString();
                    }
                    all.Append('\n').Append(text);
                }
            }
            var agent = AgentLine().Match(system + "\n" + all) is { Success: true } m ? m.Groups[1].Value : null;
            return new Prompt(blocks, system.ToString(), firstUser ?? "", agent);
        }

        /// <summary>A string content is one text block; an array is its blocks.</summary>
        private static IEnumerable<JsonNode> Parts(JsonNode? content) => content switch
        {
            JsonArray parts => parts.OfType<JsonNode>(),
            JsonValue text => [new JsonObject { ["type"] = "text", ["text"] = (string?)text ?? "" }],
            _ => [],
        };

        /// <summary>A block's text, or null for a block without one (an image, a tool call).</summary>
        private static string? Text(JsonNode block) => block is JsonObject o && o["text"] is JsonValue text ? (string?)text : null;

        private static Block BlockOf(string where, JsonNode block, string? text)
        {
            var breakpoint = block is JsonObject o && o["cache_control"] is JsonObject;
            var canonical = Canonical(block is JsonObject b ? new JsonObject(b.Where(p => p.Key != "cache_control").Select(p => KeyValuePair.Create(p.Key, p.Value?.DeepClone()))) : block);
            return new Block($"{where} {canonical}", OfflineChatClient.CountTokens(text ?? canonical), breakpoint);
        }

        /// <summary>JSON with object keys sorted, so two requests with the same content hash the same.</summary>
        private static string Canonical(JsonNode? node) => node switch
        {
            JsonObject o => "{" + string.Join(",", o.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => JsonSerializer.Serialize(p.Key) + ":" + Canonical(p.Value))) + "}",
            JsonArray a => "[" + string.Join(",", a.Select(Canonical)) + "]",
            null => "null",
            _ => node.ToJsonString(),
        };
    }

    [GeneratedRegex(@"You are the ([a-z_]+)\.")]
    private static partial Regex AgentLine();

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();
}
