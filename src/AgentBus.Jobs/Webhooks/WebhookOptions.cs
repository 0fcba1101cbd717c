namespace AgentBus.Webhooks;

/// <summary>Settings of outgoing webhooks, bound from "AgentBus:Webhooks" by the api (checks at creation) and the worker (delivery).</summary>
public sealed class WebhookOptions
{
    public const string Section = "AgentBus:Webhooks";

    /// <summary>Lets deliveries reach loopback, link-local and private addresses (a receiver inside the cluster). Off by default: SSRF.</summary>
    public bool AllowPrivateNetworks { get; set; }

    /// <summary>Host names (as written in the URL) that may resolve to private addresses although AllowPrivateNetworks is off.</summary>
    public List<string> AllowedHosts { get; set; } = [];

    /// <summary>The web app's public address, for the link in Slack messages (none when unset).</summary>
    public string? WebBaseUrl { get; set; }

    /// <summary>Delivers at all (the dispatcher runs in the worker).</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>How long one POST may take, connect to last response byte read.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>A body larger than this is not sent (the delivery goes dead at once).</summary>
    public int MaxBodyBytes { get; set; } = 256 * 1024;

    /// <summary>How much of a receiver's answer is read (kept, cut, as the delivery's last error).</summary>
    public int MaxResponseBytes { get; set; } = 1024;

    /// <summary>How often the dispatcher looks for due deliveries.</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Deliveries claimed per poll, sent concurrently.</summary>
    public int BatchSize { get; set; } = 20;

    /// <summary>How long a claimed delivery is held: past it, a dispatcher that died mid-send has its row taken by another.</summary>
    public TimeSpan Lease { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>The first retry's delay; each later one doubles, up to MaxRetryDelay, with jitter.</summary>
    public TimeSpan FirstRetryDelay { get; set; } = TimeSpan.FromSeconds(30);

    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromHours(1);

    /// <summary>A delivery that fails this long after its first attempt goes dead (at least 24 h in production).</summary>
    public TimeSpan RetryFor { get; set; } = TimeSpan.FromHours(25);

    /// <summary>Each retry delay is spread by up to this fraction either way, so receivers coming back are not hit at once.</summary>
    public double Jitter { get; set; } = 0.2;

    public RetrySchedule Schedule => new(FirstRetryDelay, MaxRetryDelay, RetryFor, Jitter);

    /// <summary>Whether deliveries to <paramref name="host"/> skip the private-address check.</summary>
    public bool Trusts(string host) =>
        AllowPrivateNetworks || AllowedHosts.Any(h => string.Equals(h.Trim('[', ']'), host.Trim('[', ']'), StringComparison.OrdinalIgnoreCase));

    public bool IsValid =>
        Timeout >= TimeSpan.FromMilliseconds(100) && MaxBodyBytes >= 1024 && MaxResponseBytes is >= 0 and <= 65536
        && PollInterval >= TimeSpan.FromMilliseconds(50) && BatchSize is >= 1 and <= 1000 && Lease > Timeout
        && FirstRetryDelay > TimeSpan.Zero && MaxRetryDelay >= FirstRetryDelay && RetryFor > TimeSpan.Zero && Jitter is >= 0 and < 1;
}
