using AgentBus.Data;
using Dapper;

namespace AgentBus.Webhooks;

/// <summary>Subscriptions and deliveries in Postgres: the api's reads and actions, and the dispatcher's claims and outcomes.</summary>
public sealed class WebhookStore(Database db)
{
    private const string SubscriptionColumns = "id, url, events, format, created_at, created_by";
    private const string DeliveryColumns =
        "id, subscription_id, job_id, seq, event, status, attempts, next_attempt_at, last_attempt_at, last_status_code, last_error, created_at, completed_at";

    public Task<WebhookSubscriptionRow> CreateAsync(string url, string[] events, string format, string secret, string? createdBy, CancellationToken ct) =>
        db.QuerySingleOrDefaultAsync<WebhookSubscriptionRow>("webhook_create",
            $"INSERT INTO webhook_subscriptions (id, url, events, format, secret, created_by) VALUES (@id, @url, @events, @format, @secret, @createdBy) RETURNING {SubscriptionColumns}",
            new { id = Guid.CreateVersion7(), url, events, format, secret, createdBy }, ct)!;

    public Task<IReadOnlyList<WebhookSubscriptionRow>> ListAsync(CancellationToken ct) =>
        db.QueryAsync<WebhookSubscriptionRow>("webhook_list", $"SELECT {SubscriptionColumns} FROM webhook_subscriptions ORDER BY created_at DESC, id", null, ct);

    public Task<WebhookSubscriptionRow?> GetAsync(Guid id, CancellationToken ct) =>
        db.QuerySingleOrDefaultAsync<WebhookSubscriptionRow>("webhook_get", $"SELECT {SubscriptionColumns} FROM webhook_subscriptions WHERE id = @id", new { id }, ct);

    /// <summary>Deletes the subscription and its deliveries (pending ones are not sent).</summary>
    public async Task<bool> DeleteAsync(Guid id, CancellationToken ct) =>
        await db.ExecuteAsync("webhook_delete", "DELETE FROM webhook_subscriptions WHERE id = @id", new { id }, ct) > 0;

    /// <summary>The subscription's deliveries, newest first, optionally of one status.</summary>
    public Task<IReadOnlyList<WebhookDeliveryRow>> DeliveriesAsync(Guid subscriptionId, string? status, int limit, CancellationToken ct) =>
        db.QueryAsync<WebhookDeliveryRow>("webhook_deliveries",
            $"SELECT {DeliveryColumns} FROM webhook_deliveries WHERE subscription_id = @subscriptionId AND (@status::text IS NULL OR status = @status) "
            + "ORDER BY created_at DESC, id DESC LIMIT @limit",
            new { subscriptionId, status, limit }, ct);

    /// <summary>
    /// A dead delivery due again at once, with a new retry window (same id and body). Otherwise
    /// nothing changes and Status says why: the delivery's status (only a dead one is sent again),
    /// or null when the webhook has no such delivery.
    /// </summary>
    public async Task<(WebhookDeliveryRow? Redelivered, string? Status)> RedeliverAsync(Guid subscriptionId, Guid deliveryId, CancellationToken ct)
    {
        var parameters = new { subscriptionId, deliveryId };
        if (await db.QuerySingleOrDefaultAsync<WebhookDeliveryRow>("webhook_redeliver",
                "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = now(), first_attempt_at = NULL, completed_at = NULL "
                + $"WHERE id = @deliveryId AND subscription_id = @subscriptionId AND status = 'dead' RETURNING {DeliveryColumns}",
                parameters, ct) is { } row)
        {
            return (row, DeliveryStatus.Pending);
        }
        return (null, await db.QuerySingleOrDefaultAsync<string>("webhook_delivery_status",
            "SELECT status FROM webhook_deliveries WHERE id = @deliveryId AND subscription_id = @subscriptionId", parameters, ct));
    }

    /// <summary>
    /// Claims up to <paramref name="limit"/> due deliveries: each is moved a lease ahead and its
    /// attempt counted, so other dispatchers skip it (SKIP LOCKED now, the lease later) and a
    /// dispatcher that dies mid-send leaves it due again when the lease passes.
    /// </summary>
    public Task<IReadOnlyList<ClaimedDelivery>> ClaimAsync(int limit, TimeSpan lease, CancellationToken ct) =>
        db.QueryAsync<ClaimedDelivery>("webhook_claim",
            """
            WITH due AS (
              SELECT id FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= now()
              ORDER BY next_attempt_at LIMIT @limit FOR UPDATE SKIP LOCKED)
            UPDATE webhook_deliveries d SET attempts = d.attempts + 1, next_attempt_at = now() + @lease, last_attempt_at = now(),
              first_attempt_at = coalesce(d.first_attempt_at, now())
            FROM due, webhook_subscriptions s
            WHERE d.id = due.id AND s.id = d.subscription_id
            RETURNING d.id, d.event, d.payload::text AS payload, d.attempts, d.first_attempt_at, s.url, s.secret, s.format
            """,
            new { limit, lease }, ct);

    /// <summary>
    /// The outcome of one attempt: <paramref name="retryIn"/> null when it is final
    /// (<paramref name="status"/> delivered or dead). Fenced by the attempt number, so a dispatcher
    /// whose lease passed cannot overwrite the outcome of a later attempt.
    /// </summary>
    public async Task RecordAsync(ClaimedDelivery delivery, string status, int? statusCode, string? error, TimeSpan? retryIn, CancellationToken ct) =>
        await db.ExecuteAsync("webhook_outcome",
            """
            UPDATE webhook_deliveries SET status = @status, last_status_code = @statusCode, last_error = @error,
              next_attempt_at = CASE WHEN @retryIn::interval IS NULL THEN next_attempt_at ELSE now() + @retryIn::interval END,
              completed_at = CASE WHEN @status = 'pending' THEN NULL ELSE now() END
            WHERE id = @id AND attempts = @attempts AND status = 'pending'
            """,
            new { id = delivery.Id, attempts = delivery.Attempts, status, statusCode, error, retryIn }, ct);

    /// <summary>How many deliveries wait, and how late the most overdue one is (0 when none is due).</summary>
    public Task<(long Pending, double OldestDueSeconds)> BacklogAsync(CancellationToken ct) =>
        db.RunAsync("webhook_backlog", c => c.QuerySingleAsync<(long, double)>(new CommandDefinition(
            "SELECT count(*), coalesce(extract(epoch FROM greatest(now() - min(next_attempt_at), interval '0'))::float8, 0) FROM webhook_deliveries WHERE status = 'pending'",
            cancellationToken: ct)), ct);
}
