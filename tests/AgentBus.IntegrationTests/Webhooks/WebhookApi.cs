using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace AgentBus.IntegrationTests.Webhooks;

/// <summary>/api/webhooks as the tests call it, and the worker's webhook counters.</summary>
public static class WebhookApi
{
    public static async Task<JsonObject> SubscribeAsync(this AgentBusClient api, Uri url, string[] events, string? secret = null, string? format = null)
    {
        using var response = await api.Http.PostAsJsonAsync("/api/webhooks", new { url, events, secret, format });
        Assert.True(response.StatusCode == HttpStatusCode.Created, $"{response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        return (await response.Content.ReadFromJsonAsync<JsonObject>())!;
    }

    public static async Task UnsubscribeAsync(this AgentBusClient api, JsonObject subscription)
    {
        using var response = await api.Http.DeleteAsync($"/api/webhooks/{subscription["id"]}");
        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
    }

    public static async Task<List<JsonObject>> DeliveriesAsync(this AgentBusClient api, JsonObject subscription) =>
        [.. (await api.Http.GetFromJsonAsync<JsonObject>($"/api/webhooks/{subscription["id"]}/deliveries"))!["items"]!.AsArray().Select(d => d!.AsObject())];

    /// <summary>agent_bus_webhook_deliveries_total{event,outcome} as the worker exports it (0 when there is no such series yet).</summary>
    public static async Task<double> DeliveriesCountedAsync(HttpClient worker, string @event, string outcome) =>
        PrometheusText.Parse(await worker.GetStringAsync("/metrics")).Samples
            .Where(s => s.Name == "agent_bus_webhook_deliveries_total" && s.Labels.GetValueOrDefault("event") == @event && s.Labels.GetValueOrDefault("outcome") == outcome)
            .Sum(s => s.Value);
}
