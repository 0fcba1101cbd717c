using AgentBus.Webhooks;

namespace AgentBus.Api.Webhooks;

// The JSON bodies of /api/webhooks (snake_case on the wire). The secret appears in Created only.
public sealed record CreateWebhookRequest(string? Url, string[]? Events, string? Format, string? Secret);

public sealed record WebhookCreated(Guid Id, string Url, IReadOnlyList<string> Events, string Format, string Secret, DateTime CreatedAt, string? CreatedBy);

public sealed record WebhookItem(Guid Id, string Url, IReadOnlyList<string> Events, string Format, DateTime CreatedAt, string? CreatedBy)
{
    public static WebhookItem Of(WebhookSubscriptionRow row) => new(row.Id, row.Url, row.Events, row.Format, row.CreatedAt, row.CreatedBy);
}

public sealed record WebhookList(IReadOnlyList<WebhookItem> Items);

public sealed record WebhookDelivery(Guid Id, Guid JobId, int EventSeq, string Event, string Status, int Attempts, DateTime? NextAttemptAt,
    DateTime? LastAttemptAt, int? LastStatusCode, string? LastError, DateTime CreatedAt, DateTime? CompletedAt)
{
    public static WebhookDelivery Of(WebhookDeliveryRow row) => new(row.Id, row.JobId, row.Seq, row.Event, row.Status, row.Attempts,
        row.Status == DeliveryStatus.Pending ? row.NextAttemptAt : null, row.LastAttemptAt, row.LastStatusCode, row.LastError, row.CreatedAt, row.CompletedAt);
}

public sealed record WebhookDeliveryList(IReadOnlyList<WebhookDelivery> Items);
