using System.Diagnostics;
using AgentBus.Llm;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace AgentBus.UnitTests.Llm;

/// <summary>Each real provider SDK, through Agent Bus's resilience pipeline, against a local endpoint speaking its wire format.</summary>
public sealed class ProviderTests : IAsyncLifetime
{
    private const string ApiKey = "sk-agentbus-provider-test-9d2f41c7";
    private FakeModelServer _server = null!;

    public async ValueTask InitializeAsync() => _server = await FakeModelServer.StartAsync();

    public async ValueTask DisposeAsync() => await _server.DisposeAsync();

    public static TheoryData<string> Providers => new(LlmProviders.Anthropic, LlmProviders.OpenAI);

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task A_normal_call_sends_the_provider_request_shape_and_reads_usage_with_cache_fields(string provider)
    {
        using var host = Host(provider);
        var route = host.Services.GetRequiredService<ChatClients>().For("qa_agent");
        var response = await route.Client.GetResponseAsync(Messages("qa_agent"), new ChatOptions { ModelId = route.Model, MaxOutputTokens = 1000 });

        Assert.Contains("# Clinic: QA plan", response.Text);
        var request = Assert.Single(_server.Requests);
        var usage = LlmUsage.From(response);
        if (provider == LlmProviders.Anthropic)
        {
            Assert.Equal("/v1/messages", request.Path);
            // The official SDK (13.x) sends the key as a bearer token.
            Assert.Equal($"Bearer {ApiKey}", request.Headers["authorization"]);
            Assert.True(request.Headers.ContainsKey("anthropic-version"));
            Assert.Equal("claude-sonnet-4-5", (string?)request.Body["model"]);
            Assert.Equal(1000, (int)request.Body["max_tokens"]!);
            Assert.Contains("You are the qa_agent.", request.Body["system"]!.ToJsonString());
            Assert.Equal("user", (string?)request.Body["messages"]![0]!["role"]);
            // No cache_control breakpoint in the request: like the API, nothing is read from or written to the cache.
            Assert.Equal((0, 0), (usage.CacheReadTokens, usage.CacheWriteTokens));
        }
        else
        {
            Assert.Equal("/v1/chat/completions", request.Path);
            Assert.Equal($"Bearer {ApiKey}", request.Headers["authorization"]);
            Assert.Equal("gpt-4.1-mini", (string?)request.Body["model"]);
            Assert.Equal(["system", "user"], request.Body["messages"]!.AsArray().Select(m => (string)m!["role"]!));
            Assert.Equal((64, 0), (usage.CacheReadTokens, usage.CacheWriteTokens));
        }
        Assert.True(usage.InputTokens > 10 && usage.OutputTokens > 50, $"usage {usage}");
        Assert.Equal(response.Usage!.OutputTokenCount, usage.OutputTokens);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task A_429_with_Retry_After_is_waited_out_then_succeeds(string provider)
    {
        _server.Then(new FakeModelServer.Scripted(429, RetryAfter: "2"));
        using var host = Host(provider);
        var clock = Stopwatch.StartNew();
        var response = await Call(host);

        Assert.NotEmpty(response.Text);
        var requests = _server.Requests.ToArray();
        Assert.Equal(2, requests.Length);
        Assert.True(requests[1].At - requests[0].At >= TimeSpan.FromSeconds(1.9), $"retried after {(requests[1].At - requests[0].At).TotalSeconds:F2} s, not the 2 s Retry-After");
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Overloaded_529_is_retried_with_backoff(string provider)
    {
        _server.Then(new FakeModelServer.Scripted(529), new FakeModelServer.Scripted(529));
        using var host = Host(provider);
        var response = await Call(host);
        Assert.NotEmpty(response.Text);
        Assert.Equal(3, _server.Requests.Count);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Overloaded_past_the_retries_fails_classified_as_overloaded(string provider)
    {
        _server.Then(Enumerable.Repeat(new FakeModelServer.Scripted(529), 5).ToArray());
        using var host = Host(provider);
        var failure = await FailureOf(() => Call(host));
        Assert.Equal("overloaded", failure.ErrorType);
        Assert.Equal(529, failure.Status);
        Assert.True(failure.Retryable);
        Assert.Equal(3, _server.Requests.Count); // the first try and MaxRetries = 2
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task A_hanging_endpoint_times_out_classified_as_timeout(string provider)
    {
        _server.Then(Enumerable.Repeat(new FakeModelServer.Scripted(200, Delay: TimeSpan.FromSeconds(30)), 5).ToArray());
        using var host = Host(provider);
        var clock = Stopwatch.StartNew();
        var failure = await FailureOf(() => Call(host));
        Assert.Equal("timeout", failure.ErrorType);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(12), $"gave up after {clock.Elapsed.TotalSeconds:F1} s");
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task A_401_fails_at_once_as_auth_without_leaking_the_key(string provider)
    {
        _server.Then(new FakeModelServer.Scripted(401));
        using var host = Host(provider);
        var failure = await FailureOf(() => Call(host));
        Assert.Equal("auth", failure.ErrorType);
        Assert.False(failure.Retryable);
        Assert.Single(_server.Requests);
        for (Exception? e = failure; e is not null; e = e.InnerException)
        {
            Assert.DoesNotContain(ApiKey, e.ToString());
        }
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Persistent_5xx_opens_the_breaker_and_calls_stop_reaching_the_provider(string provider)
    {
        _server.Then(Enumerable.Repeat(new FakeModelServer.Scripted(500), 100).ToArray());
        using var host = Host(provider);
        var failures = new List<string>();
        for (var i = 0; i < 8; i++)
        {
            failures.Add((await FailureOf(() => Call(host))).ErrorType);
        }
        TestContext.Current.SendDiagnosticMessage($"{provider}: {_server.Requests.Count} requests; {string.Join(", ", failures)}");
        // 8 calls of 3 attempts would be 24 requests; the breaker (10 failures at 80 %) stops the rest.
        Assert.Contains("circuit_open", failures);
        Assert.True(_server.Requests.Count < 24, $"{_server.Requests.Count} requests reached the provider");
    }

    private IHost Host(string provider)
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder();
        var section = provider == LlmProviders.Anthropic ? "Anthropic" : "OpenAI";
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["AgentBus:Llm:Provider"] = provider,
            [$"AgentBus:Llm:{section}:ApiKey"] = ApiKey,
            // The Anthropic SDK appends /v1/messages to its base URL; OpenAI-compatible base URLs carry /v1.
            [$"AgentBus:Llm:{section}:BaseUrl"] = provider == LlmProviders.Anthropic ? _server.BaseUrl.ToString() : new Uri(_server.BaseUrl, "v1").ToString(),
            ["AgentBus:Llm:Resilience:MaxRetries"] = "2",
            ["AgentBus:Llm:Resilience:RetryBaseDelay"] = "00:00:00.100",
            // Two seconds, not one: on 2 busy cores a first response (JIT, the SDK parsing it) can take
            // over 1 s. Three attempts and their backoff stay inside the total, so it is the pipeline that times out.
            ["AgentBus:Llm:Resilience:AttemptTimeout"] = "00:00:02",
            ["AgentBus:Llm:Resilience:TotalTimeout"] = "00:00:08",
        });
        // As in every service: a standard pipeline on all HttpClients, which the model clients replace.
        builder.Services.ConfigureHttpClientDefaults(http => http.AddStandardResilienceHandler());
        builder.AddAgentBusLlm();
        return builder.Build();
    }

    private static Task<ChatResponse> Call(IHost host)
    {
        var route = host.Services.GetRequiredService<ChatClients>().For("qa_agent");
        return route.Client.GetResponseAsync(Messages("qa_agent"), new ChatOptions { ModelId = route.Model, MaxOutputTokens = 1000 });
    }

    private static async Task<LlmProviderException> FailureOf(Func<Task> call)
    {
        var e = await Assert.ThrowsAnyAsync<Exception>(call);
        return LlmProviderException.Find(e) ?? throw new Xunit.Sdk.XunitException($"not classified: {e}");
    }

    private static List<ChatMessage> Messages(string agentType) =>
    [
        new(ChatRole.System, $"You are the {agentType}."),
        new(ChatRole.User, "<project name=\"Clinic\">\n<requirements>\nPatients must book appointments online. Doctors should see their schedule.\n</requirements>\n</project>"),
    ];
}
