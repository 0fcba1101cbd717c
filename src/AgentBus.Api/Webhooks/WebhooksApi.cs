using AgentBus.Api.Security;
using AgentBus.Webhooks;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;

namespace AgentBus.Api.Webhooks;

/// <summary>
/// /api/webhooks: admins subscribe a URL to job events (approval requested, job completed, job
/// failed, budget stopped), see each subscription's recent deliveries and send a dead one again.
/// The signing secret is answered once, at creation (docs/webhooks.md).
/// </summary>
public static class WebhooksApi
{
    public const int MaxUrl = 2000;
    public const int MaxDeliveries = 500;

    public static IEndpointRouteBuilder MapWebhooksApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/webhooks").WithTags("Webhooks").RequireAuthorization(Roles.Admin);
        group.MapPost("", Create).WithName("CreateWebhook")
            .WithSummary("Subscribe a URL to job events; the signing secret (generated unless given) is in this answer only.");
        group.MapGet("", List).WithName("ListWebhooks").WithSummary("Webhook subscriptions, newest first; no secrets.");
        group.MapGet("/{webhook_id}", Get).WithName("GetWebhook").WithSummary("One webhook subscription; no secret.");
        group.MapDelete("/{webhook_id}", Delete).WithName("DeleteWebhook").WithSummary("Delete a subscription and its deliveries; pending ones are not sent.");
        group.MapGet("/{webhook_id}/deliveries", Deliveries).WithName("ListWebhookDeliveries")
            .WithSummary("A subscription's recent deliveries, newest first (status pending, delivered or dead), with their last error.");
        group.MapPost("/{webhook_id}/deliveries/{delivery_id}/redeliver", Redeliver).WithName("RedeliverWebhook")
            .WithSummary("Send a dead delivery again, same id and body, with a new retry window.");
        return app;
    }

    public static async Task<Results<Created<WebhookCreated>, ValidationProblem>> Create(CreateWebhookRequest request, WebhookStore store,
        IOptions<WebhookOptions> options, HttpContext context, CancellationToken ct)
    {
        var format = request.Format ?? WebhookPayloads.Json;
        var events = request.Events ?? [];
        var check = new Validator().Text(request.Url, "url", MaxUrl);
        if (check.Ok && WebhookAddresses.Problem(request.Url!.Trim(), options.Value) is { } urlProblem)
        {
            check.Require(false, "url", urlProblem);
        }
        check.Require(events.Length > 0 && events.All(WebhookEvents.All.Contains) && events.Distinct().Count() == events.Length, "events",
                $"must name each of its events once, from {string.Join(", ", WebhookEvents.All)}")
            .Require(WebhookPayloads.Formats.Contains(format), "format", $"must be one of {string.Join(", ", WebhookPayloads.Formats)}")
            .Require(format != WebhookPayloads.Slack || events.All(e => e == WebhookEvents.ApprovalRequested), "format",
                $"slack is only for {WebhookEvents.ApprovalRequested}")
            .Require(request.Secret is null || WebhookSignature.KeyOf(request.Secret) is not null, "secret",
                $"must be {WebhookSignature.SecretPrefix} followed by base64 of 16 to 64 random bytes (or left out to have one generated)");
        if (!check.Ok)
        {
            return Problems.Invalid(check.Errors);
        }
        var secret = request.Secret ?? WebhookSignature.NewSecret();
        var row = await store.CreateAsync(request.Url!.Trim(), events, format, secret, Roles.Caller(context.User), ct);
        return TypedResults.Created($"/api/webhooks/{row.Id}", new WebhookCreated(row.Id, row.Url, row.Events, row.Format, secret, row.CreatedAt, row.CreatedBy));
    }

    public static async Task<Ok<WebhookList>> List(WebhookStore store, CancellationToken ct) =>
        TypedResults.Ok(new WebhookList([.. (await store.ListAsync(ct)).Select(WebhookItem.Of)]));

    public static async Task<Results<Ok<WebhookItem>, ProblemHttpResult>> Get(Guid webhook_id, WebhookStore store, CancellationToken ct) =>
        await store.GetAsync(webhook_id, ct) is { } row ? TypedResults.Ok(WebhookItem.Of(row)) : Problems.NotFound("webhook", webhook_id);

    public static async Task<Results<NoContent, ProblemHttpResult>> Delete(Guid webhook_id, WebhookStore store, CancellationToken ct) =>
        await store.DeleteAsync(webhook_id, ct) ? TypedResults.NoContent() : Problems.NotFound("webhook", webhook_id);

    public static async Task<Results<Ok<WebhookDeliveryList>, ValidationProblem, ProblemHttpResult>> Deliveries(Guid webhook_id, WebhookStore store, CancellationToken ct,
        [FromQuery] string? status = null, [FromQuery] int limit = Paging.DefaultLimit)
    {
        var statuses = new[] { DeliveryStatus.Pending, DeliveryStatus.Delivered, DeliveryStatus.Dead };
        var check = new Validator()
            .Require(limit is >= 1 and <= MaxDeliveries, "limit", $"must be between 1 and {MaxDeliveries}")
            .Require(status is null || statuses.Contains(status), "status", $"must be one of {string.Join(", ", statuses)}");
        if (!check.Ok)
        {
            return Problems.Invalid(check.Errors);
        }
        if (await store.GetAsync(webhook_id, ct) is null)
        {
            return Problems.NotFound("webhook", webhook_id);
        }
        return TypedResults.Ok(new WebhookDeliveryList([.. (await store.DeliveriesAsync(webhook_id, status, limit, ct)).Select(WebhookDelivery.Of)]));
    }

    public static async Task<Results<Accepted<WebhookDelivery>, ProblemHttpResult>> Redeliver(Guid webhook_id, Guid delivery_id, WebhookStore store, CancellationToken ct) =>
        await store.RedeliverAsync(webhook_id, delivery_id, ct) switch
        {
            ({ } row, _) => TypedResults.Accepted($"/api/webhooks/{webhook_id}/deliveries", WebhookDelivery.Of(row)),
            (null, null) => Problems.NotFound($"No delivery {delivery_id} of webhook {webhook_id}."),
            (null, var status) => TypedResults.Problem(statusCode: StatusCodes.Status409Conflict, title: "Conflict with the delivery's state",
                detail: $"Delivery {delivery_id} is {status}; only a dead delivery is sent again.",
                extensions: new Dictionary<string, object?> { ["delivery_status"] = status }),
        };
}
