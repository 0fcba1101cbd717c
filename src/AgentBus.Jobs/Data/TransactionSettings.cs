namespace AgentBus.Data;

/// <summary>Settings sent first in a transaction's first batch (SET LOCAL: they end with it).</summary>
internal static class TransactionSettings
{
    /// <summary>
    /// The commit does not wait for the WAL flush. Only for changes a Postgres crash may undo
    /// without harm; each use says why.
    /// </summary>
    public static readonly SqlStatement AsyncCommit = new("SET LOCAL synchronous_commit TO OFF");

    /// <summary>
    /// For a job change, whose statements all find their rows by key, so one plan per statement
    /// serves all parameters. Left to decide, Postgres plans the unnest() statements anew on every
    /// execution (an array parameter's length changes the estimate), which took a fifth of its CPU
    /// under POST load. A generic plan is kept for the connection's life, and one made while the
    /// tables were small scans them whole (measured: every job creation scanned jobs, before any
    /// autoanalyze), so these statements must use their indexes whatever the tables' size at
    /// planning; those that join a table to unnest() also filter it by `= ANY(ids)`, the index's
    /// own condition. JIT is off with them: a plan that must still scan a table (the webhook
    /// subscriptions, a handful of rows) carries the disabled scan's huge cost, past JIT's
    /// thresholds, and Postgres then compiled that statement on every execution (about 150 ms
    /// each; dispatch fell from 1,266 to 45 tasks/s).
    /// </summary>
    public static readonly SqlStatement KeyLookupPlans = new("SET LOCAL plan_cache_mode TO force_generic_plan;\nSET LOCAL enable_seqscan TO off;\nSET LOCAL jit TO off");
}
