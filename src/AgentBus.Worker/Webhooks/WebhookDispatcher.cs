using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;
using AgentBus.Telemetry;
using AgentBus.Webhooks;
using Microsoft.Extensions.Options;
using Npgsql;

namespace AgentBus.Worker.Webhooks;

/// <summary>
/// Claims due webhook deliveries, posts each signed, and records the outcome: delivered on a 2xx,
/// else retried with backoff until the retry window closes, then dead (visible in the api). Any
/// number of workers may run it: claims skip each other's rows, and a crash mid-send only delays
/// the row until its lease passes (the receiver may then see the same webhook-id twice).
/// </summary>
public sealed partial class WebhookDispatcher(WebhookStore store, IHttpClientFactory clients, AgentBusMetrics metrics,
    IOptions<WebhookOptions> options, ILogger<WebhookDispatcher> logger) : BackgroundService
{
    private readonly WebhookOptions _options = options.Value;
    private static readonly TimeSpan BacklogInterval = TimeSpan.FromSeconds(10);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!_options.Enabled)
        {
            return;
        }
        var backlogReadAt = 0L;
        using var timer = new PeriodicTimer(_options.PollInterval);
        do
        {
            try
            {
                if (Stopwatch.GetElapsedTime(backlogReadAt) >= BacklogInterval)
                {
                    metrics.WebhookBacklog = await store.BacklogAsync(stoppingToken);
                    backlogReadAt = Stopwatch.GetTimestamp();
                }
                // A full batch means more may be due: claim again without waiting.
                IReadOnlyList<ClaimedDelivery> claimed;
                do
                {
                    claimed = await store.ClaimAsync(_options.BatchSize, _options.Lease, stoppingToken);
                    await Task.WhenAll(claimed.Select(d => DeliverAsync(d, stoppingToken)));
                }
                while (claimed.Count == _options.BatchSize && !stoppingToken.IsCancellationRequested);
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException)
            {
                // Postgres down: claimed rows stay leased and come due again; nothing is lost.
                LogStoreFailed(e.Message);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    private async Task DeliverAsync(ClaimedDelivery delivery, CancellationToken stoppingToken)
    {
        var (outcome, statusCode, error) = await SendAsync(delivery, stoppingToken);
        if (outcome == DeliveryStatus.Delivered)
        {
            await store.RecordAsync(delivery, DeliveryStatus.Delivered, statusCode, null, null, CancellationToken.None);
            Count(delivery, "delivered");
            return;
        }
        if (stoppingToken.IsCancellationRequested)
        {
            // Cut short by shutdown, not the receiver's fault: the lease brings the row back.
            return;
        }
        if (outcome == DeliveryStatus.Dead || _options.Schedule.GivesUp(DateTime.UtcNow - delivery.FirstAttemptAt))
        {
            await store.RecordAsync(delivery, DeliveryStatus.Dead, statusCode, error, null, CancellationToken.None);
            Count(delivery, "dead");
            LogDead(delivery.Id, delivery.Event, delivery.Attempts, error ?? "");
            return;
        }
        var retryIn = _options.Schedule.Delay(delivery.Attempts, Random.Shared.NextDouble());
        await store.RecordAsync(delivery, DeliveryStatus.Pending, statusCode, error, retryIn, CancellationToken.None);
        Count(delivery, outcome);
        LogRetrying(delivery.Id, delivery.Event, delivery.Attempts, retryIn.TotalSeconds, error ?? "");
    }

    /// <summary>One attempt: delivered, failed_retrying, refused (the address), or dead (it can never be sent: too large, no usable secret).</summary>
    private async Task<(string Outcome, int? StatusCode, string? Error)> SendAsync(ClaimedDelivery delivery, CancellationToken stoppingToken)
    {
        var body = WebhookPayloads.Body(delivery.Format, delivery.Payload, _options.WebBaseUrl);
        if (body.Length > _options.MaxBodyBytes)
        {
            return (DeliveryStatus.Dead, null, $"body of {body.Length} bytes is over MaxBodyBytes ({_options.MaxBodyBytes})");
        }
        if (WebhookSignature.KeyOf(delivery.Secret) is not { } key)
        {
            // The api accepts no such secret; a row edited by hand must not stop the dispatcher.
            return (DeliveryStatus.Dead, null, "the subscription's secret is malformed");
        }
        var id = delivery.Id.ToString();
        var timestamp = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        using var request = new HttpRequestMessage(HttpMethod.Post, delivery.Url) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json") { CharSet = "utf-8" };
        request.Headers.Add(WebhookSignature.IdHeader, id);
        request.Headers.Add(WebhookSignature.TimestampHeader, timestamp.ToString(System.Globalization.CultureInfo.InvariantCulture));
        request.Headers.Add(WebhookSignature.SignatureHeader, WebhookSignature.Sign(key, id, timestamp, body));
        request.Headers.UserAgent.Add(new ProductInfoHeaderValue("AgentBus-Webhooks", "1"));
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        timeout.CancelAfter(_options.Timeout);
        try
        {
            using var response = await clients.CreateClient(WebhookExtensions.HttpClientName).SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
            var code = (int)response.StatusCode;
            if (response.IsSuccessStatusCode)
            {
                return (DeliveryStatus.Delivered, code, null);
            }
            var answer = await ReadCappedAsync(response.Content, timeout.Token);
            var redirect = code is >= 300 and < 400 ? " (redirects are not followed)" : "";
            return ("failed_retrying", code, $"HTTP {code}{redirect}{(answer.Length > 0 ? ": " + answer : "")}");
        }
        catch (HttpRequestException e) when (Refusal(e) is { } refused)
        {
            return ("refused", null, refused.Message);
        }
        catch (Exception e) when (e is HttpRequestException or OperationCanceledException or IOException)
        {
            return ("failed_retrying", null, e is OperationCanceledException ? $"no answer within {_options.Timeout.TotalSeconds} s" : e.Message);
        }
    }

    private static WebhookRefusedException? Refusal(Exception e) =>
        e as WebhookRefusedException ?? (e.InnerException is { } inner ? Refusal(inner) : null);

    /// <summary>The start of the receiver's answer, at most MaxResponseBytes: a hostile receiver cannot make us read more.</summary>
    private async Task<string> ReadCappedAsync(HttpContent content, CancellationToken ct)
    {
        var buffer = new byte[_options.MaxResponseBytes];
        await using var stream = await content.ReadAsStreamAsync(ct);
        var read = await stream.ReadAtLeastAsync(buffer, buffer.Length, throwOnEndOfStream: false, ct);
        return new string(Encoding.UTF8.GetString(buffer, 0, read).Where(c => !char.IsControl(c)).Take(300).ToArray());
    }

    private void Count(ClaimedDelivery delivery, string outcome) =>
        metrics.WebhookDeliveries.Add(1, new("event", delivery.Event), new("outcome", outcome));

    [LoggerMessage(EventId = 440, EventName = "webhook_retrying", Level = LogLevel.Warning,
        Message = "Webhook delivery {DeliveryId} ({Event}) attempt {Attempt} failed, retrying in {RetryInSeconds:F1} s: {Error}")]
    private partial void LogRetrying(Guid deliveryId, string @event, int attempt, double retryInSeconds, string error);

    [LoggerMessage(EventId = 441, EventName = "webhook_dead", Level = LogLevel.Error,
        Message = "Webhook delivery {DeliveryId} ({Event}) gave up after {Attempts} attempt(s): {Error}")]
    private partial void LogDead(Guid deliveryId, string @event, int attempts, string error);

    [LoggerMessage(EventId = 442, EventName = "webhook_store_unavailable", Level = LogLevel.Warning, Message = "Webhook dispatcher paused: {Error}")]
    private partial void LogStoreFailed(string error);
}
