namespace AgentBus.Data;

/// <summary>
/// The Postgres advisory lock keys Agent Bus takes, each defined once. Two uses of one key would
/// block or skip each other (the migrations and the reconciler's sweep once shared a key).
/// </summary>
public static class AdvisoryLocks
{
    /// <summary>Held while a service applies schema migrations.</summary>
    public const long Migrations = 0x4167656E74427573; // "AgentBus"

    /// <summary>Held (transaction-scoped) by the one worker that sweeps for lost stage tasks.</summary>
    public const long StageReconciler = 0x4167656E74526563; // "AgentRec"

    /// <summary>Held (session-scoped, released when the sweep ends) by the one worker that runs the retention sweep.</summary>
    public const long Retention = 0x4167656E74526574; // "AgentRet"
}
