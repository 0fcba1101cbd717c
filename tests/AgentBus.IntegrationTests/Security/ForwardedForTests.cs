using System.Net;

namespace AgentBus.IntegrationTests.Security;

/// <summary>From a trusted proxy (loopback in <see cref="AppHostFixture"/>), X-Forwarded-For picks the
/// per-address bucket; here the bucket of key lookups (AgentBus:RateLimits:KeyLookups, 100 a second,
/// burst 200), since this fixture's request buckets are unbounded. The untrusted side: RateLimitTests.</summary>
[Collection(AppHostCollection.Name)]
public sealed class ForwardedForTests(AppHostFixture fixture)
{
    [Fact]
    public async Task From_a_trusted_proxy_each_forwarded_client_gets_its_own_address_bucket()
    {
        using var anonymous = fixture.CreateAnonymousClient();
        using var gate = new SemaphoreSlim(32);
        async Task<HttpStatusCode> SendAsync(string? forwardedFor)
        {
            await gate.WaitAsync();
            try
            {
                // Shaped like an issued key and unknown: each one costs a lookup from the address's bucket.
                using var request = new HttpRequestMessage(HttpMethod.Get, "/api/me");
                request.Headers.Add("X-Api-Key", "abk_" + Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32))
                    .TrimEnd('=').Replace('+', '-').Replace('/', '_'));
                if (forwardedFor is not null)
                {
                    request.Headers.Add("X-Forwarded-For", forwardedFor);
                }
                using var response = await anonymous.SendAsync(request);
                return response.StatusCode;
            }
            finally
            {
                gate.Release();
            }
        }

        // 1,000 lookups exceed the bucket unless they take over 8 s.
        var flooder = $"198.51.100.{Random.Shared.Next(1, 255)}";
        var statuses = await Task.WhenAll(Enumerable.Range(0, 1_000).Select(_ => SendAsync(flooder)));
        Assert.Contains(HttpStatusCode.TooManyRequests, statuses);

        // Another forwarded client, and the proxy's own address, still have their buckets.
        Assert.Equal(HttpStatusCode.Unauthorized, await SendAsync("203.0.113.77"));
        Assert.Equal(HttpStatusCode.Unauthorized, await SendAsync(null));
    }
}
