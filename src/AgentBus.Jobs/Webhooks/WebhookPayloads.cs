using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace AgentBus.Webhooks;

/// <summary>The body a delivery sends: the stored event as is ("json"), or a Slack message ("slack", approval requests only).</summary>
public static class WebhookPayloads
{
    public const string Json = "json";
    public const string Slack = "slack";

    public static readonly IReadOnlyList<string> Formats = [Json, Slack];

    /// <summary>The UTF-8 body for <paramref name="payload"/> (the stored JSON); the same every attempt.</summary>
    public static byte[] Body(string format, string payload, string? webBaseUrl) =>
        Encoding.UTF8.GetBytes(format == Slack ? SlackMessage(payload, webBaseUrl) : payload);

    /// <summary>
    /// A Slack incoming-webhook message ({"text": ...} with mrkdwn), which Slack-compatible receivers
    /// (Mattermost, Rocket.Chat) accept too; the job's page is linked when the web app's address is known.
    /// </summary>
    public static string SlackMessage(string payload, string? webBaseUrl)
    {
        var root = JsonNode.Parse(payload)!;
        var data = root["data"]!;
        var jobId = (string?)data["job_id"];
        var project = Escape((string?)data["project_name"] ?? "a project");
        var version = data["prd_version"] is { } v ? $" (version {v})" : "";
        var text = $"The PRD of *{project}*{version} is waiting for approval: job `{jobId}`.";
        if (!string.IsNullOrWhiteSpace(webBaseUrl))
        {
            text += $" <{webBaseUrl.TrimEnd('/')}/jobs/{jobId}/prd|Review it>";
        }
        return JsonSerializer.Serialize(new { text });
    }

    // Slack's mrkdwn reads &, < and > as markup: a project name must not make a link.
    private static string Escape(string text) => text.Replace("&", "&amp;", StringComparison.Ordinal)
        .Replace("<", "&lt;", StringComparison.Ordinal).Replace(">", "&gt;", StringComparison.Ordinal);
}
