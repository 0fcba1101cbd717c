using System.Net;
using System.Net.Sockets;

namespace AgentBus.Webhooks;

/// <summary>
/// Which addresses a webhook may not reach unless configuration trusts the host (SSRF): loopback,
/// link-local (cloud metadata at 169.254.169.254), private, shared (CGNAT), unspecified, multicast
/// and reserved ranges. IPv4 inside IPv6 (mapped, compatible, NAT64) is judged as the IPv4 it carries.
/// </summary>
public static class WebhookAddresses
{
    private static readonly IPNetwork[] Blocked =
    [
        IPNetwork.Parse("0.0.0.0/8"), IPNetwork.Parse("10.0.0.0/8"), IPNetwork.Parse("100.64.0.0/10"), IPNetwork.Parse("127.0.0.0/8"),
        IPNetwork.Parse("169.254.0.0/16"), IPNetwork.Parse("172.16.0.0/12"), IPNetwork.Parse("192.0.0.0/24"), IPNetwork.Parse("192.168.0.0/16"),
        IPNetwork.Parse("198.18.0.0/15"), IPNetwork.Parse("224.0.0.0/4"), IPNetwork.Parse("240.0.0.0/4"),
        IPNetwork.Parse("::/128"), IPNetwork.Parse("::1/128"), IPNetwork.Parse("fc00::/7"), IPNetwork.Parse("fe80::/10"), IPNetwork.Parse("fec0::/10"),
        IPNetwork.Parse("ff00::/8"),
    ];

    private static readonly IPNetwork Nat64 = IPNetwork.Parse("64:ff9b::/96");
    private static readonly IPNetwork V4Compatible = IPNetwork.Parse("::/96");

    /// <summary>Whether <paramref name="address"/> is one a webhook must not reach by default.</summary>
    public static bool IsPrivate(IPAddress address)
    {
        // IPNetwork.Contains judges an IPv4-mapped address (::ffff:a.b.c.d) by its IPv4 part;
        // NAT64 and IPv4-compatible forms it does not, so they are unwrapped here.
        if (address.AddressFamily == AddressFamily.InterNetworkV6 && (Nat64.Contains(address)
            || (V4Compatible.Contains(address) && !address.Equals(IPAddress.IPv6Any) && !address.Equals(IPAddress.IPv6Loopback))))
        {
            return IsPrivate(new IPAddress(address.GetAddressBytes()[12..]));
        }
        return Blocked.Any(n => n.Contains(address));
    }

    /// <summary>
    /// Why a subscription URL is refused at creation, or null: http or https only, no user info,
    /// and a literal IP address must not be private unless the host is trusted (a host name is
    /// checked at connect time, on the address it resolves to).
    /// </summary>
    public static string? Problem(string url, WebhookOptions options)
    {
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
        {
            return "must be an absolute http or https URL";
        }
        if (uri.UserInfo.Length > 0)
        {
            return "must not contain user info (credentials belong in the signature secret)";
        }
        if (uri.Fragment.Length > 0)
        {
            return "must not contain a fragment";
        }
        if (IPAddress.TryParse(uri.IdnHost.Trim('[', ']'), out var ip) && IsPrivate(ip) && !options.Trusts(uri.IdnHost))
        {
            return $"must not point at a loopback, link-local or private address ({ip}); set {WebhookOptions.Section}:AllowPrivateNetworks or AllowedHosts to allow it";
        }
        return null;
    }
}
