using AgentBus.Store;

namespace AgentBus.Worker.Retention;

/// <summary>Settings of the retention sweep, bound from "AgentBus:Retention".</summary>
public sealed class RetentionOptions
{
    public const string Section = "AgentBus:Retention";

    /// <summary>Sweeps at all; off keeps everything forever (as before retention existed).</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Events of a job finished at least this long ago (and themselves this old) are deleted.</summary>
    public TimeSpan JobEventsMaxAge { get; set; } = TimeSpan.FromDays(90);

    /// <summary>Artifact versions this old are deleted once a later version of their job and type exists (the latest always stays).</summary>
    public TimeSpan ArtifactVersionsMaxAge { get; set; } = TimeSpan.FromDays(30);

    /// <summary>Dead letters this old are trimmed from the dead-letter streams.</summary>
    public TimeSpan DeadLettersMaxAge { get; set; } = TimeSpan.FromDays(14);

    /// <summary>Webhook deliveries delivered or dead this long ago are deleted (pending ones never).</summary>
    public TimeSpan WebhookDeliveriesMaxAge { get; set; } = TimeSpan.FromDays(30);

    /// <summary>Time between sweeps; one also runs when the worker starts, so frequent deploys do not postpone it forever.</summary>
    public TimeSpan Interval { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Rows deleted per statement: each batch commits on its own and holds few locks.</summary>
    public int BatchSize { get; set; } = 1000;

    /// <summary>The shortest age a setting may have: a typo (seconds for days) must not wipe what operators still read.</summary>
    public static readonly TimeSpan MinimumAge = TimeSpan.FromHours(1);

    public RetentionPolicy Policy => new(JobEventsMaxAge, ArtifactVersionsMaxAge, DeadLettersMaxAge, WebhookDeliveriesMaxAge, BatchSize);

    public bool IsValid =>
        JobEventsMaxAge >= MinimumAge && ArtifactVersionsMaxAge >= MinimumAge && DeadLettersMaxAge >= MinimumAge && WebhookDeliveriesMaxAge >= MinimumAge
        && Interval >= TimeSpan.FromSeconds(1) && BatchSize is >= 1 and <= 100_000;
}
