using System.Diagnostics;

namespace AgentBus.IntegrationTests.Webhooks;

/// <summary>
/// Deliveries survive every service killed mid-send and started again: each event is delivered,
/// under the one id it had before, once the dead senders' leases pass. Runs on the Faults fixture (services are stopped and started there
/// anyway), whose webhooks retry within seconds for ten minutes and may reach loopback.
/// </summary>
[Collection(FaultsCollection.Name)]
public sealed class WebhookRestartTests(FaultsFixture fixture)
{
    private static readonly string[] Services = ["api", .. FaultsFixture.Workers, "gpu-agent"];

    [Fact]
    public async Task Deliveries_retrying_when_every_service_restarts_are_all_delivered_under_their_first_id()
    {
        using var api = fixture.Api();
        var secret = WebhookReceiver.NewSecret();
        await using var receiver = await WebhookReceiver.StartAsync(secret, "127.0.0.1");
        (receiver.Failing, receiver.FailAfter) = (true, TimeSpan.FromSeconds(1.5));
        var subscription = await api.SubscribeAsync(receiver.Url, ["approval_requested"], secret);
        try
        {
            var jobs = (await fixture.SubmitAsync(api, 3, "Webhooks through a restart")).Select(j => j.ToString()).ToList();
            // Every job's approval request has failed at least twice: each is mid-retry.
            await AgentBusAppFixture.EventuallyAsync(() => Task.FromResult(receiver.Requests.ToList()),
                r => jobs.All(j => r.Count(x => x.JobId == j) >= 2), TimeSpan.FromSeconds(60), "every delivery retrying", r => $"{r.Count} requests");

            var clock = Stopwatch.StartNew();
            // Killed, not stopped: no shutdown hook runs, and the deliveries in flight (each answer
            // takes 1.5 s) die mid-send, leased to a process that is gone.
            await Task.WhenAll(Services.Select(async s => await FaultsFixture.KillAsync(await fixture.PidOf(s))));
            receiver.Failing = false;
            await Task.WhenAll(Services.Select(fixture.RestartAsync));
            var requests = await AgentBusAppFixture.EventuallyAsync(() => Task.FromResult(receiver.Requests.ToList()),
                r => jobs.All(j => r.Any(x => x.JobId == j && x.Answered == 200)), TimeSpan.FromSeconds(60), "every delivery made after the restart",
                r => $"{r.Count(x => x.Answered == 200)} delivered");

            // One id per event, kept across the restart; no two events share one; every request signed.
            var ids = jobs.ToDictionary(j => j, j => requests.Where(x => x.JobId == j).Select(x => x.Id).Distinct().ToList());
            Assert.All(ids, i => Assert.Single(i.Value));
            Assert.Equal(jobs.Count, ids.Values.Select(i => i[0]).Distinct().Count());
            Assert.All(requests, r => Assert.True(r.SignatureValid && r.Fresh));
            var deliveries = await api.DeliveriesAsync(subscription);
            Assert.Equal(jobs.Order(), deliveries.Select(d => (string)d["job_id"]!).Where(jobs.Contains).Order());
            await AgentBusAppFixture.EventuallyAsync(async () => await api.DeliveriesAsync(subscription),
                d => d.Where(x => jobs.Contains((string)x["job_id"]!)).All(x => (string?)x["status"] == "delivered"), TimeSpan.FromSeconds(10), "every delivery recorded delivered");
            FaultsFixture.Say($"webhooks: {jobs.Count} deliveries retrying and in flight through a kill and restart of every service, all delivered {clock.Elapsed.TotalSeconds:F1} s after the stop; {requests.Count} requests");
        }
        finally
        {
            await api.UnsubscribeAsync(subscription);
        }
    }
}
