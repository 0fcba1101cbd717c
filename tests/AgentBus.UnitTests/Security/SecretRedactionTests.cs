using System.Collections.Concurrent;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace AgentBus.UnitTests.Security;

/// <summary>
/// The redacting logger factory in process: what a provider receives (formatted message, state
/// values, exception) has the configured secrets masked, and other records pass through untouched.
/// </summary>
public sealed class SecretRedactionTests
{
    private const string PgPassword = "pg-Secret-4f1d9a", RedisPassword = "redisSecret7c2e", ApiKey = "sk-test-9b8a7c6d5e";

    private sealed class Capture : ILoggerProvider, ILogger
    {
        public ConcurrentQueue<(string Message, string Values, Exception? Exception, object State)> Records { get; } = new();
        public ILogger CreateLogger(string categoryName) => this;
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => true;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Records.Enqueue((formatter(state, exception),
                string.Join(";", (state as IEnumerable<KeyValuePair<string, object?>> ?? []).Select(v => $"{v.Key}={v.Value}")), exception, state!));
        public void Dispose() { }
    }

    [Fact]
    public void Configured_secrets_are_masked_in_messages_values_and_exceptions_before_any_provider_sees_them()
    {
        var capture = new Capture();
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ConnectionStrings:agentbus"] = $"Host=127.0.0.1;Port=5432;Username=postgres;Password={PgPassword};Database=agentbus",
            ["ConnectionStrings:redis"] = $"127.0.0.1:6379,password={RedisPassword}",
            ["AgentBus:Llm:OpenAI:ApiKey"] = ApiKey,
            ["AgentBus:Llm:MaxOutputTokens"] = "80000000", // not a secret: a count whose key merely mentions tokens
        });
        builder.Logging.AddProvider(capture);
        builder.Services.AddSecretRedaction();
        using var host = builder.Build();
        var logger = host.Services.GetRequiredService<ILogger<SecretRedactionTests>>();

        logger.LogError(new InvalidOperationException($"upstream said: bad key {ApiKey}", new IOException($"auth {RedisPassword}")),
            "Connecting with {ConnectionString} as {Authorization}", builder.Configuration["ConnectionStrings:agentbus"],
            $"Basic {Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(PgPassword))}");
        logger.LogInformation("Job {JobId} used {Tokens} tokens", Guid.Empty, 80000000);

        var (message, values, exception, _) = capture.Records.First();
        var seen = $"{message}\n{values}\n{exception}\n{exception?.Message}";
        foreach (var secret in new[] { PgPassword, RedisPassword, ApiKey, Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(PgPassword)) })
        {
            Assert.DoesNotContain(secret, seen, StringComparison.Ordinal);
        }
        Assert.Contains($"Password={SecretRedactor.Mask};", message, StringComparison.Ordinal);
        Assert.Contains("Basic ***", values, StringComparison.Ordinal);
        Assert.Contains("System.InvalidOperationException: upstream said: bad key ***", exception!.ToString(), StringComparison.Ordinal);
        Assert.Contains("System.IO.IOException: auth ***", exception.ToString(), StringComparison.Ordinal);

        // A record without secrets reaches the provider as it was logged.
        var plain = capture.Records.Last();
        Assert.Equal("Job 00000000-0000-0000-0000-000000000000 used 80000000 tokens", plain.Message);
        Assert.DoesNotContain("RedactedState", plain.State.GetType().Name, StringComparison.Ordinal);
    }
}
