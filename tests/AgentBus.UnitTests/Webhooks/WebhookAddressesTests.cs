using System.Net;
using AgentBus.Webhooks;

namespace AgentBus.UnitTests.Webhooks;

public sealed class WebhookAddressesTests
{
    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("127.255.0.9")]
    [InlineData("10.1.2.3")]
    [InlineData("172.16.0.1")]
    [InlineData("172.31.255.255")]
    [InlineData("192.168.1.1")]
    [InlineData("169.254.169.254")]   // cloud metadata
    [InlineData("100.64.0.1")]        // CGNAT
    [InlineData("100.127.255.254")]
    [InlineData("0.0.0.0")]
    [InlineData("0.1.2.3")]
    [InlineData("224.0.0.1")]
    [InlineData("255.255.255.255")]
    [InlineData("::1")]
    [InlineData("::")]
    [InlineData("fc00::1")]
    [InlineData("fd12:3456::1")]
    [InlineData("fe80::1")]
    [InlineData("ff02::1")]
    [InlineData("::ffff:127.0.0.1")]      // IPv4-mapped loopback
    [InlineData("::ffff:169.254.169.254")]
    [InlineData("::ffff:10.0.0.1")]
    [InlineData("64:ff9b::a9fe:a9fe")]    // NAT64 of 169.254.169.254
    [InlineData("::127.0.0.1")]           // IPv4-compatible
    public void Private_loopback_link_local_and_reserved_addresses_are_refused(string address) =>
        Assert.True(WebhookAddresses.IsPrivate(IPAddress.Parse(address)), address);

    [Theory]
    [InlineData("93.184.215.14")]
    [InlineData("8.8.8.8")]
    [InlineData("172.32.0.1")]       // just past 172.16/12
    [InlineData("100.128.0.1")]      // just past 100.64/10
    [InlineData("169.253.255.255")]
    [InlineData("11.0.0.1")]
    [InlineData("2606:4700::1111")]
    [InlineData("::ffff:8.8.8.8")]
    [InlineData("64:ff9b::808:808")]  // NAT64 of 8.8.8.8
    public void Public_addresses_are_allowed(string address) =>
        Assert.False(WebhookAddresses.IsPrivate(IPAddress.Parse(address)), address);

    [Theory]
    [InlineData("http://169.254.169.254/latest/meta-data/", "link-local")]
    [InlineData("http://127.0.0.1:8080/hook", "private address")]
    [InlineData("http://[::1]/hook", "private address")]
    [InlineData("http://[::ffff:127.0.0.1]/hook", "private address")]
    [InlineData("http://10.0.0.5/hook", "private address")]
    [InlineData("ftp://example.com/hook", "http or https")]
    [InlineData("file:///etc/passwd", "http or https")]
    [InlineData("/relative", "http or https")]
    [InlineData("https://user:pass@example.com/hook", "user info")]
    public void Subscription_urls_are_checked_at_creation(string url, string reason) =>
        Assert.Contains(reason, WebhookAddresses.Problem(url, new WebhookOptions()));

    [Fact]
    public void Names_are_left_to_connect_time_and_trusted_hosts_pass()
    {
        var defaults = new WebhookOptions();
        Assert.Null(WebhookAddresses.Problem("https://hooks.example.com/agent-bus", defaults));
        Assert.Null(WebhookAddresses.Problem("http://localhost:9000/", defaults));   // refused when it resolves, at delivery
        Assert.Null(WebhookAddresses.Problem("http://127.0.0.2:9000/", new WebhookOptions { AllowedHosts = ["127.0.0.2"] }));
        Assert.NotNull(WebhookAddresses.Problem("http://127.0.0.1:9000/", new WebhookOptions { AllowedHosts = ["127.0.0.2"] }));
        Assert.Null(WebhookAddresses.Problem("http://10.0.0.5/", new WebhookOptions { AllowPrivateNetworks = true }));
    }
}
