using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json.Nodes;

namespace AgentBus.IntegrationTests.Webhooks;

/// <summary>
/// With the default setting (only 127.0.0.2 trusted in this fixture), webhooks never reach other
/// private addresses: literal ones are refused when subscribing, and a name that resolves to one
/// (localhost) is refused when connecting, with nothing sent.
/// </summary>
[Collection(AppHostCollection.Name)]
public sealed class WebhookSsrfTests(AppHostFixture fixture)
{
    [Theory]
    [InlineData("http://169.254.169.254/latest/meta-data/")]
    [InlineData("http://127.0.0.1:{port}/hook")]
    [InlineData("http://[::ffff:127.0.0.1]:{port}/hook")]
    [InlineData("http://10.0.0.1/hook")]
    [InlineData("gopher://example.com/hook")]
    [InlineData("https://user:secret@example.com/hook")]
    public async Task Private_addresses_and_other_schemes_are_refused_when_subscribing(string url)
    {
        using var api = fixture.Api();
        using var response = await api.Http.PostAsJsonAsync("/api/webhooks",
            new { url = url.Replace("{port}", LocalServer.FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture)), events = new[] { "job_completed" } });
        var problem = await AgentBusClient.ProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.NotNull(problem["errors"]?["url"]);
    }

    [Fact]
    public async Task A_name_resolving_to_loopback_is_refused_at_delivery_and_nothing_reaches_it()
    {
        using var api = fixture.Api();
        using var worker = fixture.CreateClient("worker");
        // Something listens where localhost points, to see that nothing connects.
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var accepted = listener.AcceptTcpClientAsync();
        var refusedBefore = await WebhookApi.DeliveriesCountedAsync(worker, "approval_requested", "refused");
        var subscription = await api.SubscribeAsync(new Uri($"http://localhost:{port}/hook"), ["approval_requested"]);
        try
        {
            // The secret is in the creation's answer only.
            Assert.StartsWith("whsec_", (string?)subscription["secret"]);
            var read = await api.Http.GetFromJsonAsync<JsonObject>($"/api/webhooks/{subscription["id"]}");
            var list = await api.Http.GetStringAsync("/api/webhooks");
            Assert.False(read!.ContainsKey("secret"));
            Assert.DoesNotContain((string)subscription["secret"]!, list);

            var (_, jobId) = await api.CreateProjectAsync("Webhook to localhost");
            var delivery = await AgentBusAppFixture.EventuallyAsync(async () => (await api.DeliveriesAsync(subscription)).SingleOrDefault(d => (string?)d["job_id"] == jobId.ToString()),
                d => (int?)d?["attempts"] >= 2, TimeSpan.FromSeconds(60), "two refused attempts", d => d?.ToJsonString() ?? "none");
            Assert.Contains("no allowed address", (string?)delivery!["last_error"]);
            Assert.False(accepted.IsCompleted, "the worker connected to localhost");
            await AgentBusAppFixture.EventuallyAsync(() => WebhookApi.DeliveriesCountedAsync(worker, "approval_requested", "refused"),
                n => n >= refusedBefore + 2, TimeSpan.FromSeconds(10), "refused attempts counted");
        }
        finally
        {
            await api.UnsubscribeAsync(subscription);
            listener.Stop();
        }
    }

    [Fact]
    public async Task Bad_subscriptions_are_refused_with_per_field_errors()
    {
        using var api = fixture.Api();
        using var response = await api.Http.PostAsJsonAsync("/api/webhooks",
            new { url = "https://hooks.example.com/x", events = new[] { "job_completed", "job_started" }, format = "slack", secret = "hunter2" });
        var problem = await AgentBusClient.ProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.Equal(["events", "format", "secret"], problem["errors"]!.AsObject().Select(e => e.Key).Order());
        using var viewer = fixture.CreateClient("api", await api.CreateKeyAsync("webhook viewer", "operator"));
        using var forbidden = await viewer.GetAsync("/api/webhooks");
        Assert.Equal(HttpStatusCode.Forbidden, forbidden.StatusCode);
    }
}
