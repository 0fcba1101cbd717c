using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace AgentBus.IntegrationTests.Webhooks;

/// <summary>
/// A webhook receiver on loopback, written as a subscriber would from docs/webhooks.md (its own
/// HMAC, not the product's): it checks each request's signature and timestamp, records it, and
/// answers 500 to the first <see cref="FailFirst"/> requests of each webhook-id (or all while
/// <see cref="Failing"/>): counted per id, so another job's delivery cannot take a failure meant for the test's.
/// </summary>
public sealed class WebhookReceiver : IAsyncDisposable
{
    public sealed record Received(string Id, long Timestamp, string Body, bool SignatureValid, bool Fresh, int Answered)
    {
        public JsonObject Json => JsonNode.Parse(Body)!.AsObject();
        public string? JobId => (string?)Json["data"]?["job_id"];
    }

    private readonly WebApplication _app;
    private readonly byte[] _key;
    private readonly ConcurrentDictionary<string, int> _seen = new();

    public ConcurrentQueue<Received> Requests { get; } = new();
    public int FailFirst { get; set; }
    public bool Failing { get; set; }
    /// <summary>How long a failing answer takes: long enough that a sender killed meanwhile dies mid-send.</summary>
    public TimeSpan FailAfter { get; set; }
    public Uri Url { get; private set; } = null!;

    private WebhookReceiver(WebApplication app, string secret) =>
        (_app, _key) = (app, Convert.FromBase64String(secret["whsec_".Length..]));

    /// <summary>Starts listening on <paramref name="address"/> (a free port unless <paramref name="port"/>), verifying with <paramref name="secret"/>.</summary>
    public static async Task<WebhookReceiver> StartAsync(string secret, string address = "127.0.0.2", int port = 0)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls($"http://{address}:{port}");
        var app = builder.Build();
        var receiver = new WebhookReceiver(app, secret);
        app.MapPost("/{**path}", receiver.HandleAsync);
        await app.StartAsync();
        receiver.Url = new Uri(app.Urls.Single() + "/hooks/agent-bus");
        return receiver;
    }

    /// <summary>A secret as the api would generate one.</summary>
    public static string NewSecret() => "whsec_" + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));

    private async Task HandleAsync(HttpContext context)
    {
        using var reader = new StreamReader(context.Request.Body, Encoding.UTF8);
        var body = await reader.ReadToEndAsync();
        var id = context.Request.Headers["webhook-id"].ToString();
        long.TryParse(context.Request.Headers["webhook-timestamp"].ToString(), System.Globalization.CultureInfo.InvariantCulture, out var timestamp);
        var expected = "v1," + Convert.ToBase64String(HMACSHA256.HashData(_key, Encoding.UTF8.GetBytes($"{id}.{timestamp}.{body}")));
        // The header may carry several space-separated signatures (key rotation): any one matching is enough.
        var valid = context.Request.Headers["webhook-signature"].ToString().Split(' ')
            .Any(s => CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(s), Encoding.ASCII.GetBytes(expected)));
        // Replay protection: a timestamp more than 5 minutes off is refused.
        var fresh = Math.Abs(DateTimeOffset.UtcNow.ToUnixTimeSeconds() - timestamp) <= 300;
        var status = !valid || !fresh ? StatusCodes.Status401Unauthorized
            : Failing || _seen.AddOrUpdate(id, 1, (_, n) => n + 1) <= FailFirst ? StatusCodes.Status500InternalServerError : StatusCodes.Status200OK;
        if (status == StatusCodes.Status500InternalServerError)
        {
            await Task.Delay(FailAfter);
        }
        Requests.Enqueue(new Received(id, timestamp, body, valid, fresh, status));
        context.Response.StatusCode = status;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
