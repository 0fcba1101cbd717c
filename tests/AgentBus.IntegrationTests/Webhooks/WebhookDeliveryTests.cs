using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace AgentBus.IntegrationTests.Webhooks;

/// <summary>
/// Deliveries to receivers on loopback (127.0.0.2, the one private host the fixture trusts): signed,
/// retried under one id after failures, dead and visible when the receiver stays down, sent again
/// on request.
/// </summary>
[Collection(AppHostCollection.Name)]
public sealed class WebhookDeliveryTests(AppHostFixture fixture)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Deliveries_are_signed_and_one_that_fails_is_retried_under_the_same_id_until_delivered()
    {
        using var api = fixture.Api();
        using var worker = fixture.CreateClient("worker");
        var secret = WebhookReceiver.NewSecret();
        await using var receiver = await WebhookReceiver.StartAsync(secret);
        await using var slack = await WebhookReceiver.StartAsync(secret);
        receiver.FailFirst = 2;
        var failedBefore = await WebhookApi.DeliveriesCountedAsync(worker, "approval_requested", "failed_retrying");
        var subscription = await api.SubscribeAsync(receiver.Url, ["approval_requested", "job_completed"], secret);
        var slackSubscription = await api.SubscribeAsync(slack.Url, ["approval_requested"], secret, "slack");
        try
        {
            Assert.Equal(secret, (string?)subscription["secret"]);
            var (_, jobId) = await api.CreateProjectAsync("Webhook retried");
            var requests = await AgentBusAppFixture.EventuallyAsync(() => Task.FromResult(receiver.Requests.Where(r => r.JobId == jobId.ToString()).ToList()),
                r => r.Any(x => x.Answered == 200), Patience, "the approval request delivered", r => string.Join(", ", r.Select(x => x.Answered)));

            // Three attempts (two answered 500), one id, each signed and fresh, the same body each time.
            Assert.Equal([500, 500, 200], requests.Select(r => r.Answered));
            Assert.Single(requests.Select(r => r.Id).Distinct());
            Assert.All(requests, r => Assert.True(r.SignatureValid && r.Fresh, $"{r.Id} at {r.Timestamp}"));
            Assert.Single(requests.Select(r => r.Body).Distinct());
            var body = requests[0].Json;
            Assert.Equal("approval_requested", (string?)body["type"]);
            Assert.Equal(1, (int?)body["data"]!["prd_version"]);

            var delivery = Assert.Single(await api.DeliveriesAsync(subscription), d => (string?)d["job_id"] == jobId.ToString());
            Assert.Equal((requests[0].Id, "delivered", 3, 200), ((string?)delivery["id"], (string?)delivery["status"], (int?)delivery["attempts"], (int?)delivery["last_status_code"]));
            await AgentBusAppFixture.EventuallyAsync(() => WebhookApi.DeliveriesCountedAsync(worker, "approval_requested", "failed_retrying"),
                n => n >= failedBefore + 2, TimeSpan.FromSeconds(10), "two failed attempts counted");

            // The Slack-format subscription got a Slack message for the same event, signed the same way.
            var messages = await AgentBusAppFixture.EventuallyAsync(() => Task.FromResult(slack.Requests.Where(r => r.Body.Contains(jobId.ToString(), StringComparison.Ordinal)).ToList()),
                r => r.Count > 0, Patience, "the Slack message");
            var message = Assert.Single(messages);
            Assert.True(message.SignatureValid);
            Assert.Equal(["text"], message.Json.Select(p => p.Key));
            Assert.Contains("*Webhook retried* (version 1) is waiting for approval", (string?)message.Json["text"]);
        }
        finally
        {
            await api.UnsubscribeAsync(subscription);
            await api.UnsubscribeAsync(slackSubscription);
        }
    }

    [Fact]
    public async Task A_receiver_that_stays_down_gets_a_dead_delivery_visible_in_the_api_and_the_metric_and_redelivery_sends_it_again()
    {
        using var api = fixture.Api();
        using var worker = fixture.CreateClient("worker");
        var secret = WebhookReceiver.NewSecret();
        var port = FreePortOnReceiverAddress();
        var deadBefore = await WebhookApi.DeliveriesCountedAsync(worker, "approval_requested", "dead");
        var subscription = await api.SubscribeAsync(new Uri($"http://{WebhookSettings.ReceiverAddress}:{port}/down"), ["approval_requested"], secret);
        try
        {
            var (_, jobId) = await api.CreateProjectAsync("Webhook to a receiver that is down");
            var dead = await AgentBusAppFixture.EventuallyAsync(async () => (await api.DeliveriesAsync(subscription)).SingleOrDefault(d => (string?)d["job_id"] == jobId.ToString()),
                d => (string?)d?["status"] == "dead", Patience, "the delivery dead", d => d?.ToJsonString() ?? "none");
            Assert.True((int)dead!["attempts"]! >= 3, dead.ToJsonString());
            Assert.NotNull((string?)dead["last_error"]);
            using (var deadOnly = await api.Http.GetAsync($"/api/webhooks/{subscription["id"]}/deliveries?status=dead"))
            {
                Assert.Contains(dead["id"]!.ToString(), await deadOnly.Content.ReadAsStringAsync());
            }
            await AgentBusAppFixture.EventuallyAsync(() => WebhookApi.DeliveriesCountedAsync(worker, "approval_requested", "dead"),
                n => n >= deadBefore + 1, TimeSpan.FromSeconds(10), "the dead delivery counted");

            // The receiver comes back; redelivery sends the same id and body, and it is delivered.
            await using var receiver = await WebhookReceiver.StartAsync(secret, port: port);
            using var redeliver = await api.Http.PostAsync($"/api/webhooks/{subscription["id"]}/deliveries/{dead["id"]}/redeliver", null);
            Assert.Equal(HttpStatusCode.Accepted, redeliver.StatusCode);
            var received = await AgentBusAppFixture.EventuallyAsync(() => Task.FromResult(receiver.Requests.Where(r => r.JobId == jobId.ToString()).ToList()),
                r => r.Count > 0, Patience, "the redelivery");
            Assert.Equal((dead["id"]!.ToString(), true), (received[0].Id, received[0].SignatureValid));
            await AgentBusAppFixture.EventuallyAsync(async () => (await api.DeliveriesAsync(subscription)).Single(d => (string?)d["id"] == dead["id"]!.ToString()),
                d => (string?)d["status"] == "delivered", Patience, "the redelivery recorded");
            // Delivered now, so not sent again: a conflict with its state; a delivery it does not have is not found.
            using var again = await api.Http.PostAsync($"/api/webhooks/{subscription["id"]}/deliveries/{dead["id"]}/redeliver", null);
            Assert.Equal("delivered", (string?)(await AgentBusClient.ProblemAsync(again, HttpStatusCode.Conflict))["delivery_status"]);
            using var unknown = await api.Http.PostAsync($"/api/webhooks/{subscription["id"]}/deliveries/{Guid.NewGuid()}/redeliver", null);
            await AgentBusClient.ProblemAsync(unknown, HttpStatusCode.NotFound);
        }
        finally
        {
            await api.UnsubscribeAsync(subscription);
        }
    }

    [Fact]
    public async Task A_budget_stop_is_delivered_as_budget_stopped_and_not_also_as_job_failed()
    {
        using var api = fixture.Api();
        var secret = WebhookReceiver.NewSecret();
        await using var receiver = await WebhookReceiver.StartAsync(secret);
        var subscription = await api.SubscribeAsync(receiver.Url, ["job_failed", "budget_stopped"], secret);
        try
        {
            // No budget at all: the PRD's first model call could pass it, so the job stops at once.
            using var created = await api.Http.PostAsJsonAsync("/api/projects", new { name = "Webhook budget stop", requirements = SampleRequirements.Clinic, budget_usd = 0m });
            var jobId = (string)(await created.Content.ReadFromJsonAsync<JsonObject>())!["job_id"]!;
            await api.WaitForStatusAsync(Guid.Parse(jobId), "failed");
            var received = await AgentBusAppFixture.EventuallyAsync(() => Task.FromResult(receiver.Requests.Where(r => r.JobId == jobId).ToList()),
                r => r.Count > 0, Patience, "the budget stop delivered");
            await Task.Delay(TimeSpan.FromSeconds(1));   // room for a second, wrong delivery to arrive
            var delivery = Assert.Single(receiver.Requests, r => r.JobId == jobId);
            Assert.Equal(("budget_stopped", "budget_exceeded"), ((string?)delivery.Json["type"], (string?)delivery.Json["data"]!["error_code"]));
            Assert.Equal("budget_stopped", (string?)Assert.Single(await api.DeliveriesAsync(subscription), d => (string?)d["job_id"] == jobId)["event"]);
        }
        finally
        {
            await api.UnsubscribeAsync(subscription);
        }
    }

    private static int FreePortOnReceiverAddress()
    {
        using var listener = new System.Net.Sockets.TcpListener(IPAddress.Parse(WebhookSettings.ReceiverAddress), 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
