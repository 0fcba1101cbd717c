using AgentBus.Api.Security;
using AgentBus.Data;
using Npgsql;
using StackExchange.Redis;

namespace AgentBus.UnitTests.Security;

public sealed class HardeningTests
{
    private static AuthOptions Jwt(string? signingKey = null, string? authority = null) =>
        new() { Jwt = new JwtOptions { Audience = "agentbus-api", Issuer = "tests", SigningKey = signingKey, Authority = authority } };

    [Fact]
    public void An_hs256_key_shorter_than_256_bits_is_refused_at_start()
    {
        Assert.Contains(Authentication.Problems(Jwt(new string('k', 31)), development: true), p => p.Contains("SigningKey must be at least 32 bytes", StringComparison.Ordinal));
        Assert.Empty(Authentication.Problems(Jwt(new string('k', 32)), development: false));
    }

    [Fact]
    public void An_http_authority_is_refused_outside_development()
    {
        Assert.Contains(Authentication.Problems(Jwt(authority: "http://idp.example"), development: false), p => p.Contains("https://", StringComparison.Ordinal));
        Assert.Empty(Authentication.Problems(Jwt(authority: "http://127.0.0.1:5000"), development: true));
        Assert.Empty(Authentication.Problems(Jwt(authority: "https://idp.example"), development: false));
    }

    [Fact]
    public void The_existing_start_checks_still_hold()
    {
        Assert.NotEmpty(Authentication.Problems(new AuthOptions { AdminApiKey = "short" }, development: true));
        Assert.NotEmpty(Authentication.Problems(new AuthOptions { KeyCacheDuration = TimeSpan.FromMinutes(5) }, development: true));
    }

    [Theory]
    [InlineData("abk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", true)]
    [InlineData("abk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", false)]  // one short
    [InlineData("abk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=A", false)] // padding is not in the alphabet
    [InlineData("xyz_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", false)]
    [InlineData("abk_not-a-key-anyone-created", false)]
    public void Only_text_shaped_like_an_issued_key_is_looked_up(string key, bool wellFormed) =>
        Assert.Equal(wellFormed, ApiKeyStore.IsWellFormed(key));

    [Fact]
    public void A_permanent_database_error_fails_the_attempt_and_an_outage_is_waited_out()
    {
        // 22021: invalid byte sequence (what a U+0000 in a text column gets), 23505: unique violation.
        Assert.False(Outage.Is(new PostgresException("invalid byte sequence", "ERROR", "ERROR", "22021")));
        Assert.False(Outage.Is(new PostgresException("duplicate key", "ERROR", "ERROR", "23505")));
        // 57P01: admin shutdown, 53300: too many connections, 40001: serialization failure.
        Assert.True(Outage.Is(new PostgresException("terminating connection", "FATAL", "FATAL", "57P01")));
        Assert.True(Outage.Is(new PostgresException("too many clients", "FATAL", "FATAL", "53300")));
        Assert.True(Outage.Is(new PostgresException("could not serialize", "ERROR", "ERROR", "40001")));
        Assert.True(Outage.Is(new NpgsqlException("connection refused")));
        Assert.True(Outage.Is(new RedisConnectionException(ConnectionFailureType.UnableToConnect, "down")));
        Assert.False(Outage.Is(new InvalidOperationException("a bug")));
    }
}
