namespace AgentBus.Webhooks;

// Classes with setters: Dapper maps the snake_case columns onto properties.

/// <summary>A subscription as the api shows it: never its secret.</summary>
public sealed class WebhookSubscriptionRow
{
    public Guid Id { get; set; }
    public string Url { get; set; } = "";
    public string[] Events { get; set; } = [];
    public string Format { get; set; } = "";
    public DateTime CreatedAt { get; set; }
    public string? CreatedBy { get; set; }
}

/// <summary>A delivery's state, without its payload.</summary>
public sealed class WebhookDeliveryRow
{
    public Guid Id { get; set; }
    public Guid SubscriptionId { get; set; }
    public Guid JobId { get; set; }
    public int Seq { get; set; }
    public string Event { get; set; } = "";
    public string Status { get; set; } = "";
    public int Attempts { get; set; }
    public DateTime NextAttemptAt { get; set; }
    public DateTime? LastAttemptAt { get; set; }
    public int? LastStatusCode { get; set; }
    public string? LastError { get; set; }
    public DateTime CreatedAt { get; set; }
    public DateTime? CompletedAt { get; set; }
}

/// <summary>A delivery a dispatcher claimed: what to send, where, signed with what.</summary>
public sealed class ClaimedDelivery
{
    public Guid Id { get; set; }
    public string Event { get; set; } = "";
    public string Payload { get; set; } = "";
    public int Attempts { get; set; }
    public DateTime FirstAttemptAt { get; set; }
    public string Url { get; set; } = "";
    public string Secret { get; set; } = "";
    public string Format { get; set; } = "";
}

/// <summary>The statuses of a delivery.</summary>
public static class DeliveryStatus
{
    public const string Pending = "pending";
    public const string Delivered = "delivered";
    public const string Dead = "dead";
}
