using System.Net;
using System.Net.Sockets;
using AgentBus.Webhooks;
using Microsoft.Extensions.Options;

namespace AgentBus.Worker.Webhooks;

public static class WebhookExtensions
{
    public const string HttpClientName = "webhooks";

    /// <summary>Delivers webhooks (settings AgentBus:Webhooks) through a client that connects only to allowed addresses.</summary>
    public static IHostApplicationBuilder AddWebhookDispatcher(this IHostApplicationBuilder builder)
    {
#pragma warning disable EXTEXP0001 // RemoveAllResilienceHandlers is experimental, and the only way to drop the service-wide pipeline
        builder.Services.AddHttpClient(HttpClientName)
            .ConfigurePrimaryHttpMessageHandler(sp => GuardedHandler(sp.GetRequiredService<IOptions<WebhookOptions>>().Value))
            // Retries are the dispatcher's (durable, with its schedule); the standard pipeline's
            // retries would send one attempt several times and its timeout would override ours.
            .RemoveAllResilienceHandlers();
#pragma warning restore EXTEXP0001
        builder.Services.AddHostedService<WebhookDispatcher>();
        return builder;
    }

    /// <summary>
    /// No redirects, no proxy, and every connection's address checked after DNS resolution, where
    /// it is used: a name that resolves to a public address when checked and a private one when
    /// connecting (DNS rebinding) cannot slip through.
    /// </summary>
    private static SocketsHttpHandler GuardedHandler(WebhookOptions options) => new()
    {
        AllowAutoRedirect = false,
        UseProxy = false,
        UseCookies = false,
        ConnectTimeout = options.Timeout,
        PooledConnectionLifetime = TimeSpan.FromMinutes(2),
        ConnectCallback = async (context, ct) =>
        {
            var host = context.DnsEndPoint.Host;
            var addresses = IPAddress.TryParse(host.Trim('[', ']'), out var literal) ? [literal] : await Dns.GetHostAddressesAsync(host, ct);
            var allowed = options.Trusts(host) ? addresses : [.. addresses.Where(a => !WebhookAddresses.IsPrivate(a))];
            if (allowed.Length == 0)
            {
                throw new WebhookRefusedException($"{host} resolves to no allowed address ({string.Join(", ", addresses.Select(a => a.ToString()))})");
            }
            var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await socket.ConnectAsync(allowed, context.DnsEndPoint.Port, ct);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        },
    };
}

/// <summary>A delivery's host resolved only to addresses webhooks may not reach.</summary>
public sealed class WebhookRefusedException(string message) : Exception(message);
