using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.HttpOverrides;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// AgentBus:ForwardedHeaders: the proxies whose X-Forwarded-For and X-Forwarded-Proto a service
/// believes. ASP.NET Core applies the headers when ASPNETCORE_FORWARDEDHEADERS_ENABLED=true (Aspire
/// sets it on every published service) and then believes any peer; these lists replace that trust.
/// Empty (the default) believes nobody, loopback included: the client address is the TCP peer.
/// </summary>
public sealed class ForwardedHeadersTrust
{
    public const string Section = "AgentBus:ForwardedHeaders";

    /// <summary>CIDR ranges of the proxies, e.g. the ingress controller's pod network. An entry may
    /// hold several, comma-separated, so that one setting (one ConfigMap key) can carry the list.</summary>
    public List<string> KnownNetworks { get; set; } = [];

    /// <summary>Single proxy addresses, comma-separated as above.</summary>
    public List<string> KnownProxies { get; set; } = [];

    public bool Valid =>
        Split(KnownNetworks).All(n => System.Net.IPNetwork.TryParse(n, out _)) && Split(KnownProxies).All(p => IPAddress.TryParse(p, out _));

    private static IEnumerable<string> Split(List<string> entries) =>
        entries.SelectMany(e => e.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries));

    /// <summary>Only the configured proxies are believed, and only for the one hop they add (ForwardLimit 1):
    /// a client's own X-Forwarded-For entries before the proxy's are ignored.</summary>
    public void ApplyTo(ForwardedHeadersOptions options)
    {
        options.KnownIPNetworks.Clear();
        options.KnownProxies.Clear();
        foreach (var network in Split(KnownNetworks))
        {
            options.KnownIPNetworks.Add(System.Net.IPNetwork.Parse(network));
        }
        foreach (var proxy in Split(KnownProxies))
        {
            options.KnownProxies.Add(IPAddress.Parse(proxy));
        }
        options.ForwardLimit = 1;
        // With both lists empty the middleware would believe every peer: turn the headers off instead.
        options.ForwardedHeaders = options.KnownIPNetworks.Count + options.KnownProxies.Count == 0
            ? ForwardedHeaders.None
            : ForwardedHeaders.XForwardedFor | ForwardedHeaders.XForwardedProto;
    }
}

public static class ForwardedHeadersTrustExtensions
{
    /// <summary>Binds <see cref="ForwardedHeadersTrust"/> and applies it after ASP.NET Core's own setup
    /// (PostConfigure), so the environment switch can never widen it. A malformed entry stops start-up.</summary>
    public static IServiceCollection AddForwardedHeadersTrust(this IServiceCollection services)
    {
        services.AddOptions<ForwardedHeadersTrust>().BindConfiguration(ForwardedHeadersTrust.Section)
            .Validate(t => t.Valid, $"{ForwardedHeadersTrust.Section}: KnownNetworks must be CIDR ranges and KnownProxies IP addresses.")
            .ValidateOnStart();
        services.AddOptions<ForwardedHeadersOptions>().PostConfigure<IOptions<ForwardedHeadersTrust>>(
            (options, trust) => trust.Value.ApplyTo(options));
        return services;
    }
}
