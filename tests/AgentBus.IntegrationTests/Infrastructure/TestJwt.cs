using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace AgentBus.IntegrationTests.Infrastructure;

/// <summary>HS256 JWTs for the api's test issuer, written by hand so that tests can also forge bad ones.</summary>
public static class TestJwt
{
    public const string Issuer = "agentbus-tests";
    public const string Audience = "agentbus-api";

    /// <param name="claims">Further claims, e.g. a forged copy of one the api sets itself.</param>
    /// <param name="withExpiry">false: no exp claim at all.</param>
    /// <param name="unsigned">true: alg "none" and no signature.</param>
    public static string Create(string signingKey, string subject, string? role, string audience = Audience, string issuer = Issuer,
        DateTimeOffset? expires = null, string roleClaim = "role", IReadOnlyDictionary<string, object>? claims = null, bool withExpiry = true,
        bool unsigned = false)
    {
        var now = DateTimeOffset.UtcNow;
        var payload = new Dictionary<string, object>
        {
            ["iss"] = issuer, ["aud"] = audience, ["sub"] = subject,
            ["iat"] = now.ToUnixTimeSeconds(), ["nbf"] = now.AddMinutes(-5).ToUnixTimeSeconds(),
            ["exp"] = (expires ?? now.AddMinutes(10)).ToUnixTimeSeconds(),
        };
        if (role is not null)
        {
            payload[roleClaim] = role;
        }
        if (!withExpiry)
        {
            payload.Remove("exp");
        }
        foreach (var (name, value) in claims ?? new Dictionary<string, object>())
        {
            payload[name] = value;
        }
        var header = unsigned ? new { alg = "none", typ = "JWT" } : new { alg = "HS256", typ = "JWT" };
        var body = $"{Encode(JsonSerializer.SerializeToUtf8Bytes(header))}.{Encode(JsonSerializer.SerializeToUtf8Bytes(payload))}";
        return unsigned ? $"{body}." : $"{body}.{Encode(HMACSHA256.HashData(Encoding.UTF8.GetBytes(signingKey), Encoding.UTF8.GetBytes(body)))}";
    }

    private static string Encode(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
