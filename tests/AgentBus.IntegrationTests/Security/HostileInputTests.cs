using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace AgentBus.IntegrationTests.Security;

/// <summary>
/// Every operation of the api's own OpenAPI document (so a new endpoint is covered without editing
/// this file) gets hostile path segments, query values, headers, bodies and content types. Every
/// answer must be below 500; every 4xx must be problem+json with a matching status and no stack
/// trace, exception or SQL text; hostile text the api accepts must come back verbatim; and the
/// service must still work afterwards.
/// </summary>
[Collection(SecurityCollection.Name)]
public sealed class HostileInputTests(SecurityFixture fixture)
{
    /// <summary>A request to send: bodies are bytes so each send gets fresh content.</summary>
    private sealed record Case(string Label, HttpMethod Method, string Url, byte[]? Body = null, string? ContentType = null,
        IReadOnlyList<(string Name, string Value)>? Headers = null, (string Field, string Value)? Echo = null);

    /// <summary>Hostile text for every string-ish position (path segments, query values, JSON strings).</summary>
    private static readonly string[] HostileStrings =
    [
        "'; DROP TABLE projects;--", "' OR '1'='1", "1; SELECT pg_sleep(10)--", "\" OR \"\"=\"", "admin'--",
        "../../etc/passwd", "..\\..\\windows\\win.ini", "%2e%2e%2f%2e%2e%2fetc%2fpasswd", "....//....//etc/passwd",
        "", " ", "\t", new string('A', 5_000),
        "nul\u0000byte", "\u0007\u0008\u001b[31mred", "line\r\nInjected: header", "\u202Egnp.exe", "zero\u200Bwidth\uFEFF",
        "😀🚀👩‍👩‍👧", "Ω≈ç√∫˜µ≤", "ｆｕｌｌｗｉｄｔｈ", "\u0301\u0301\u0301combining", "مرحبا", "\uFFFF\uFFFE",
        "${jndi:ldap://127.0.0.1/a}", "<script>alert(1)</script>", "{{7*7}}", "%s%s%s%n", "null", "undefined", "NaN",
        "-1", "0", "99999999999999999999999999", "1e400", "00000000-0000-0000-0000-000000000000", "not-a-guid",
        "{3F2504E0-4F89-11D3-9A0C-0305E82C3301}", "3F2504E0-4F89-11D3-9A0C-0305E82C3301-extra",
    ];

    /// <summary>Raw path spellings that an escaper would hide: traversal, bad escapes, encoded NUL.</summary>
    private static readonly string[] RawPathSegments =
    [
        "..", "../../../../etc/passwd", "%2e%2e%2f%2e%2e%2fetc%2fpasswd", "..%2f..%2fetc%2fpasswd", "%2e%2e", "%00", "a%00b",
        "%ZZ", "%", "%C0%AE%C0%AE%2F", "%ff%fe", "%E2%80%AE", ";jsessionid=1", "a;b=c", "*", "~", "%20", "+",
    ];

    /// <summary>JSON values, written raw so invalid ones (lone surrogates, overflow, NaN) can be sent too.</summary>
    private static readonly string[] RawJsonValues =
    [
        "0", "-1", "1.5", "-0", "1e400", "-1e400", "99999999999999999999999999999999", "1e-400", "NaN", "Infinity",
        "true", "false", "null", "[]", "[1,\"a\",null]", "{}", "{\"a\":{\"b\":[1]}}", "\"\"",
        "\"\\ud800\"", "\"\\udfff tail\"", "\"\\ud83d\"", "\"\\u0000\"", "\"\\u001f\"", "\"\\uZZZZ\"", "\"unterminated",
        new string('[', 300) + new string(']', 300), "{\"a\":" + string.Concat(Enumerable.Repeat("{\"a\":", 100)) + "1" + new string('}', 101),
        "'single quoted'", "undefined", "0x10", "01", ".5", "+1",
        "{\"k\":\"\\u0000\"}", "{\"\\u0000\":1}", "{\"k\":\"\\ud800\"}", "{\"k\":\"'; DROP TABLE projects;--\"}", "{\"k\":1e400}",
    ];

    private static readonly string[] HostileHeaderValues =
    [
        "", "'; DROP TABLE api_keys;--", "../../etc/passwd", "Bearer ", "Bearer ' OR 1=1--", "Basic Zm9vOmJhcg==",
        "Basic !!!notbase64", new string('k', 4_000), "null",
    ];

    private static readonly string[] PagingValues = ["-1", "0", "1", "-2147483649", "2147483648", "1000000000000", "abc", "1.5", "", "1e3", "0x10"];

    [Fact]
    public async Task Every_endpoint_answers_hostile_input_with_4xx_problem_json_and_no_5xx_and_stays_healthy()
    {
        using var api = fixture.Api();
        using var anonymous = fixture.CreateAnonymousClient();
        var ids = await api.CreateProjectAsync("Hostile input target");
        var openApi = (await api.Http.GetFromJsonAsync<JsonObject>("/openapi/v1.json"))!;
        var cases = Generate(openApi, ids.ProjectId, ids.JobId).ToList();
        Assert.True(cases.Count > 1_000, $"only {cases.Count} cases generated from {openApi["paths"]!.AsObject().Count} paths");

        var failures = new ConcurrentQueue<string>();
        var statuses = new ConcurrentDictionary<int, int>();
        using var gate = new SemaphoreSlim(8);
        await Task.WhenAll(cases.Select(async c =>
        {
            await gate.WaitAsync();
            try
            {
                var problem = await SendAndCheckAsync(api.Http, anonymous, c, statuses);
                if (problem is not null)
                {
                    failures.Enqueue($"{c.Label}: {problem}");
                }
            }
            finally
            {
                gate.Release();
            }
        }));

        var fiveXx = statuses.Where(s => s.Key >= 500).Sum(s => s.Value);
        var summary = $"hostile input: {cases.Count} requests over {openApi["paths"]!.AsObject().Count} paths, {fiveXx} answered 5xx, " +
            $"{failures.Count} broke a rule; statuses: {string.Join(", ", statuses.OrderBy(s => s.Key).Select(s => $"{s.Key}x{s.Value}"))}";
        TestContext.Current.SendDiagnosticMessage(summary);
        TestContext.Current.TestOutputHelper?.WriteLine(summary);
        Assert.True(failures.IsEmpty, $"{summary}\n{string.Join("\n", failures.Take(40))}");

        // Still healthy, and still doing its job.
        using (var ready = await api.Http.GetAsync("/health/ready"))
        {
            Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        }
        var after = await api.CreateProjectAsync("After the hostile input");
        await api.WaitForStatusAsync(after.JobId, "waiting_for_approval");
    }

    /// <summary>Sends one case; returns what was wrong with the answer, or null.</summary>
    /// <remarks>Hostile credentials go out alone, on <paramref name="anonymous"/>: with the admin key beside them they would not be read.</remarks>
    private static async Task<string?> SendAndCheckAsync(HttpClient http, HttpClient anonymous, Case c, ConcurrentDictionary<int, int> statuses)
    {
        using var request = new HttpRequestMessage(c.Method, c.Url);
        if (c.Body is not null)
        {
            request.Content = new ByteArrayContent(c.Body);
            // Over the 1 MiB limit the api answers 413 before reading; without waiting for that
            // answer the client would still be uploading when the connection closes.
            request.Headers.ExpectContinue = c.Body.Length > 1024 * 1024;
            request.Content.Headers.ContentType = null;
            if (c.ContentType is not null)
            {
                request.Content.Headers.TryAddWithoutValidation("Content-Type", c.ContentType);
            }
        }
        var credentials = false;
        foreach (var (name, value) in c.Headers ?? [])
        {
            request.Headers.Remove(name);
            credentials |= name is "Authorization" or "X-Api-Key";
            request.Headers.TryAddWithoutValidation(name, value);
        }
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        HttpResponseMessage response;
        try
        {
            response = await (credentials ? anonymous : http).SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
        }
        catch (Exception e) when (e is HttpRequestException or OperationCanceledException)
        {
            return $"no answer ({e.GetType().Name}: {e.Message})";
        }
        using (response)
        {
            var status = (int)response.StatusCode;
            statuses.AddOrUpdate(status, 1, (_, n) => n + 1);
            if (response.Content.Headers.ContentType?.MediaType == "text/event-stream")
            {
                return status == 200 ? null : $"{status} event stream";
            }
            var body = await response.Content.ReadAsStringAsync(timeout.Token);
            if (status >= 500)
            {
                return $"{status} {Truncate(body)}";
            }
            if (credentials && status is not (401 or 400))
            {
                return $"{status} for a hostile credential (401 expected): {Truncate(body)}";
            }
            if (status == 400 && c.Url.Contains("%00", StringComparison.Ordinal) && body.Length == 0)
            {
                // Kestrel refuses a NUL in the request target while parsing it, before any
                // middleware runs: a bare 400 is the only answer the app could not shape.
                return null;
            }
            if (status >= 400)
            {
                if (response.Content.Headers.ContentType?.MediaType != "application/problem+json")
                {
                    return $"{status} as {response.Content.Headers.ContentType?.ToString() ?? "no content type"}: {Truncate(body)}";
                }
                if (TryParse(body)?["status"]?.GetValue<int>() != status)
                {
                    return $"{status} whose problem has another status: {Truncate(body)}";
                }
                if (new[] { "   at ", "Exception", "Npgsql", "StackExchange", "SELECT ", "System." }.FirstOrDefault(body.Contains) is { } leak)
                {
                    return $"{status} leaks internals ({leak}): {Truncate(body)}";
                }
                return null;
            }
            if (status == 201 && c.Echo is { } echo && response.Headers.Location is { } location)
            {
                // Accepted hostile text is data: it must come back as sent (names are trimmed).
                var created = await http.GetFromJsonAsync<JsonObject>(location, timeout.Token);
                var expected = echo.Field == "name" ? echo.Value.Trim() : echo.Value;
                // Text fields only: numbers may be read from strings ("1" for a budget) and come back as numbers.
                if (created?[echo.Field] is JsonValue value && value.GetValueKind() == JsonValueKind.String && (string?)value is var stored && stored != expected)
                {
                    return $"accepted {echo.Field} came back as {JsonSerializer.Serialize(stored)}, not {JsonSerializer.Serialize(expected)}";
                }
            }
            return null;
        }
    }

    private static IEnumerable<Case> Generate(JsonObject openApi, Guid projectId, Guid jobId)
    {
        var schemas = openApi["components"]?["schemas"]?.AsObject();
        foreach (var (template, pathItem) in openApi["paths"]!.AsObject())
        {
            foreach (var (verb, op) in pathItem!.AsObject())
            {
                if (op is not JsonObject operation || verb is "parameters" or "summary" or "description")
                {
                    continue;
                }
                var method = new HttpMethod(verb.ToUpperInvariant());
                var label = $"{method} {template}";
                var parameters = (operation["parameters"]?.AsArray() ?? []).OfType<JsonObject>().ToList();
                var pathParams = parameters.Where(p => (string?)p["in"] == "path").ToList();
                var queryParams = parameters.Where(p => (string?)p["in"] == "query").ToList();

                // A request that would be valid: real ids, plausible query values, a valid body.
                var validPath = pathParams.ToDictionary(p => (string)p["name"]!, p => ValidPathValue(p, projectId, jobId));
                string Url(IReadOnlyDictionary<string, string> path, string query = "") =>
                    pathParams.Aggregate(template, (url, p) => url.Replace($"{{{p["name"]}}}", path[(string)p["name"]!])) + query;
                var url = Url(validPath);
                var bodySchema = Resolve(operation["requestBody"]?["content"]?["application/json"]?["schema"], schemas);
                var properties = bodySchema?["properties"]?.AsObject().Select(p => (Name: p.Key, Schema: Resolve(p.Value, schemas))).ToList() ?? [];
                var validBody = properties.ToDictionary(p => p.Name, p => ValidJson(p.Name, p.Schema));
                byte[]? Body(IReadOnlyDictionary<string, string> fields) =>
                    bodySchema is null ? null : Encoding.UTF8.GetBytes("{" + string.Join(",", fields.Select(f => $"{JsonSerializer.Serialize(f.Key)}:{f.Value}")) + "}");
                var body = Body(validBody);
                var json = body is null ? null : "application/json";

                // Path segments: escaped hostile text, then raw spellings the escaper would hide.
                foreach (var p in pathParams)
                {
                    var name = (string)p["name"]!;
                    foreach (var segment in HostileStrings.Select(Uri.EscapeDataString).Concat(RawPathSegments))
                    {
                        yield return new Case($"{label} {name}={segment}", method, Url(new Dictionary<string, string>(validPath) { [name] = segment }), body, json);
                    }
                }

                // Query values: hostile text and paging extremes, repeated, and unknown parameters.
                foreach (var p in queryParams)
                {
                    var name = (string)p["name"]!;
                    foreach (var value in HostileStrings.Concat(PagingValues))
                    {
                        yield return new Case($"{label} ?{name}={value}", method, url + $"?{name}={Uri.EscapeDataString(value)}", body, json);
                    }
                    yield return new Case($"{label} ?{name} twice", method, url + $"?{name}=1&{name}=2", body, json);
                    yield return new Case($"{label} ?{name} bare", method, url + $"?{name}", body, json);
                }
                yield return new Case($"{label} unknown query", method, url + "?unknown=%27%3B--&__proto__=1&limit[]=1", body, json);

                // Credentials and resume headers: hostile credentials are refused (401), a hostile Last-Event-ID ignored or refused, never a 5xx.
                foreach (var header in new[] { "X-Api-Key", "Authorization", "Last-Event-ID" })
                {
                    foreach (var value in HostileHeaderValues)
                    {
                        yield return new Case($"{label} {header}: {Truncate(value)}", method, url, body, json, [(header, value)]);
                    }
                }

                // Any operation may be sent a body; one that takes none must still not choke.
                if (bodySchema is null)
                {
                    if (method != HttpMethod.Get)
                    {
                        yield return new Case($"{label} unexpected body", method, url, "{\"x\":1}"u8.ToArray(), "application/json");
                        yield return new Case($"{label} malformed unexpected body", method, url, "{"u8.ToArray(), "application/json");
                    }
                    continue;
                }

                // Every field: wrong types, odd numbers, invalid JSON strings, hostile text, over-long text.
                foreach (var (field, _) in properties)
                {
                    foreach (var raw in RawJsonValues)
                    {
                        yield return new Case($"{label} {field}={Truncate(raw)}", method, url,
                            Body(new Dictionary<string, string>(validBody) { [field] = raw }), "application/json");
                    }
                    foreach (var hostile in HostileStrings.Append(new string('x', 100_001)))
                    {
                        yield return new Case($"{label} {field}=\"{Truncate(hostile)}\"", method, url,
                            Body(new Dictionary<string, string>(validBody) { [field] = JsonSerializer.Serialize(hostile) }), "application/json",
                            Echo: (field, hostile));
                    }
                    yield return new Case($"{label} without {field}", method, url,
                        Body(validBody.Where(f => f.Key != field).ToDictionary()), "application/json");
                }

                // Whole bodies: malformed, truncated, of the wrong shape, oversized, with unknown fields.
                var text = Encoding.UTF8.GetString(body!);
                var wholeBodies = new List<(string Label, byte[] Bytes)>
                {
                    ("empty", []), ("whitespace", " \n "u8.ToArray()), ("open brace", "{"u8.ToArray()), ("close brace", "}"u8.ToArray()),
                    ("truncated", Encoding.UTF8.GetBytes(text[..(text.Length / 2)])), ("truncated by one", Encoding.UTF8.GetBytes(text[..^1])),
                    ("array", "[]"u8.ToArray()), ("array of body", Encoding.UTF8.GetBytes($"[{text}]")), ("null", "null"u8.ToArray()),
                    ("string", "\"text\""u8.ToArray()), ("number", "42"u8.ToArray()), ("true", "true"u8.ToArray()),
                    ("two bodies", Encoding.UTF8.GetBytes(text + text)), ("trailing comma", Encoding.UTF8.GetBytes(text[..^1] + ",}")),
                    ("comment", Encoding.UTF8.GetBytes("/* c */" + text)), ("bom", [0xEF, 0xBB, 0xBF, .. body!]),
                    ("invalid utf-8", [.. "{\"name\":\""u8, 0xFF, 0xFE, 0xC0, .. "\"}"u8]), ("nul bytes", [0, 0, 0, 0]),
                    ("unknown fields", Encoding.UTF8.GetBytes(text[..^1] + (text.Length > 2 ? "," : "") + "\"unknown\":1,\"__proto__\":{\"admin\":true},\"$type\":\"System.IO.FileInfo\"}")),
                    ("duplicate fields", Encoding.UTF8.GetBytes(text[..^1] + (text.Length > 2 ? "," : "") + text[1..])),
                    ("deep nesting", Encoding.UTF8.GetBytes(new string('[', 5_000) + new string(']', 5_000))),
                    ("over 1 MiB", Encoding.UTF8.GetBytes($"{{\"pad\":\"{new string('x', 1_100_000)}\"}}")),
                    ("utf-16", Encoding.Unicode.GetBytes(text)),
                };
                foreach (var (what, bytes) in wholeBodies)
                {
                    yield return new Case($"{label} body {what}", method, url, bytes, "application/json");
                }

                // Content types other than JSON, and none at all.
                foreach (var contentType in new string?[]
                         {
                             null, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/xml",
                             "application/json; charset=utf-16", "application/json; charset=nonsense", "application/merge-patch+json",
                             "application/*", "garbage", "application/json, text/plain", "",
                         })
                {
                    var bytes = contentType?.StartsWith("application/x-www-form", StringComparison.Ordinal) == true
                        ? Encoding.UTF8.GetBytes(string.Join("&", properties.Select(p => $"{p.Name}=x")))
                        : body!;
                    yield return new Case($"{label} as {contentType ?? "no content type"}", method, url, bytes, contentType);
                }
            }
        }
    }

    private static string ValidPathValue(JsonObject parameter, Guid projectId, Guid jobId)
    {
        var name = (string)parameter["name"]!;
        return (string?)parameter["schema"]?["format"] == "uuid" || name.EndsWith("_id", StringComparison.Ordinal)
            ? (name.Contains("project", StringComparison.Ordinal) ? projectId : jobId).ToString()
            : (string?)parameter["schema"]?["enum"]?[0] ?? "prd";
    }

    /// <summary>A valid JSON value for a body field, by its schema's type.</summary>
    private static string ValidJson(string name, JsonObject? schema) => Types(schema).FirstOrDefault(t => t != "null") switch
    {
        "string" => JsonSerializer.Serialize(name == "requirements" ? SampleRequirements.Clinic : $"Hostile probe {name}"),
        "integer" => "1",
        "number" => "1",
        "boolean" => "false",
        "array" => "[]",
        _ => "{}",
    };

    private static IEnumerable<string> Types(JsonObject? schema) => schema?["type"] switch
    {
        JsonArray many => many.Select(t => (string)t!),
        JsonValue one => [(string)one!],
        _ => [],
    };

    private static JsonObject? Resolve(JsonNode? schema, JsonObject? schemas)
    {
        while (schema?["$ref"] is JsonValue reference)
        {
            schema = schemas?[((string)reference!).Split('/')[^1]];
        }
        return schema as JsonObject;
    }

    private static JsonNode? TryParse(string body)
    {
        try
        {
            return JsonNode.Parse(body);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static string Truncate(string text) =>
        (text.Length > 300 ? text[..300] + "…" : text).Replace("\n", "\\n", StringComparison.Ordinal).Replace("\0", "\\0", StringComparison.Ordinal);
}
