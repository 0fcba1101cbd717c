using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.HttpOverrides;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace AgentBus.UnitTests.Security;

/// <summary>The forwarded-headers middleware as a published service runs it
/// (ASPNETCORE_FORWARDEDHEADERS_ENABLED=true), with AgentBus:ForwardedHeaders applied on top.</summary>
public sealed class ForwardedHeadersTrustTests
{
    private static async Task<HttpContext> SendAsync(string peer, string forwardedFor, params (string Key, string Value)[] settings)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Configuration["ForwardedHeaders_Enabled"] = "true";
        foreach (var (key, value) in settings)
        {
            builder.Configuration[key] = value;
        }
        builder.Services.AddForwardedHeadersTrust();
        await using var app = builder.Build();
        var middleware = new ForwardedHeadersMiddleware(_ => Task.CompletedTask, NullLoggerFactory.Instance,
            app.Services.GetRequiredService<IOptions<ForwardedHeadersOptions>>());
        var context = new DefaultHttpContext();
        context.Connection.RemoteIpAddress = IPAddress.Parse(peer);
        context.Request.Scheme = "http";
        context.Request.Headers["X-Forwarded-For"] = forwardedFor;
        context.Request.Headers["X-Forwarded-Proto"] = "https";
        await middleware.Invoke(context);
        return context;
    }

    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("::1")]
    [InlineData("10.1.2.3")]
    public async Task With_nothing_configured_no_peer_is_believed_not_even_loopback(string peer)
    {
        var context = await SendAsync(peer, "203.0.113.9");
        Assert.Equal(IPAddress.Parse(peer), context.Connection.RemoteIpAddress);
        Assert.Equal("http", context.Request.Scheme);
    }

    [Fact]
    public async Task A_proxy_in_a_known_network_sets_the_client_address_from_the_one_entry_it_added()
    {
        var context = await SendAsync("10.1.2.3", "198.51.100.1, 203.0.113.9", ("AgentBus:ForwardedHeaders:KnownNetworks:0", "10.0.0.0/8"));
        // ForwardLimit 1: the entry the proxy appended; what the client wrote before it is not believed.
        Assert.Equal(IPAddress.Parse("203.0.113.9"), context.Connection.RemoteIpAddress);
        Assert.Equal("https", context.Request.Scheme);
    }

    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("::1")]
    [InlineData("192.168.1.5")]
    public async Task Peers_outside_the_known_networks_and_proxies_are_not_believed(string peer)
    {
        var context = await SendAsync(peer, "203.0.113.9",
            ("AgentBus:ForwardedHeaders:KnownNetworks:0", "10.0.0.0/8, fd00::/8"), ("AgentBus:ForwardedHeaders:KnownProxies:0", "172.16.0.1"));
        Assert.Equal(IPAddress.Parse(peer), context.Connection.RemoteIpAddress);
    }

    [Fact]
    public async Task A_known_proxy_address_is_believed()
    {
        var context = await SendAsync("172.16.0.1", "203.0.113.9", ("AgentBus:ForwardedHeaders:KnownProxies:0", "172.16.0.9,172.16.0.1"));
        Assert.Equal(IPAddress.Parse("203.0.113.9"), context.Connection.RemoteIpAddress);
    }

    [Fact]
    public async Task A_malformed_network_stops_start_up()
    {
        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => SendAsync("10.1.2.3", "203.0.113.9", ("AgentBus:ForwardedHeaders:KnownNetworks:0", "10.0.0.0/33")));
        Assert.Contains(ForwardedHeadersTrust.Section, error.Message, StringComparison.Ordinal);
    }
}
