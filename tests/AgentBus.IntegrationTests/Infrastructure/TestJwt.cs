using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace AgentBus.IntegrationTests.Infrastructure;

/// <summary>HS256 JWTs for the api's test issuer, written by hand so that tests can also forge bad ones.</summary>
public static class TestJwt
{
    public const string Issuer = "agentbus-tests";
    public const string Audience = "agentbus-api";

    public static string Create(string signingKey, string subject, string? role, string audience = Audience, string issuer = Issuer,
        DateTimeOffset? expires = null, string roleClaim = "role")
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
        var unsigned = $"{Encode(JsonSerializer.SerializeToUtf8Bytes(new { alg = "HS256", typ = "JWT" }))}.{Encode(JsonSerializer.SerializeToUtf8Bytes(payload))}";
        return $"{unsigned}.{Encode(HMACSHA256.HashData(Encoding.UTF8.GetBytes(signingKey), Encoding.UTF8.GetBytes(unsigned)))}";
    }

    private static string Encode(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
