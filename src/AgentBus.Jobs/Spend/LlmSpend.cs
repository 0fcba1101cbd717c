using AgentBus.Data;
using AgentBus.Jobs;
using Dapper;

namespace AgentBus.Spend;

/// <summary>
/// Model calls and what they cost: each call recorded the moment it returns, a project's spend
/// (the budget check's left side), and the usage totals the API shows.
/// </summary>
public sealed class LlmSpend(Database db)
{
    /// <summary>
    /// What decides whether a stage may make one more call, in one round trip: whether its attempt
    /// is still the one running (a superseded attempt stops); with <paramref name="projectSpend"/>,
    /// what its project's priced calls have cost so far (the budget check's left side); with
    /// <paramref name="todaySpend"/>, what every call has cost today, UTC (the daily cap's). The sums
    /// are left out when nothing is checked against them: this runs before every model call.
    /// </summary>
    public Task<CallAllowance> AllowanceAsync(StageWork work, bool projectSpend, bool todaySpend, CancellationToken ct) =>
        db.RunAsync("llm_call_allowance", async c =>
        {
            var (current, project, today) = await c.QuerySingleAsync<(bool, decimal?, decimal?)>(new CommandDefinition(
                $"""
                SELECT EXISTS (SELECT 1 FROM stage_runs WHERE job_id = @JobId AND stage = @Stage AND status = 'running' AND attempts = @Attempt),
                       {(projectSpend ? "(SELECT coalesce(sum(cost_usd), 0) FROM llm_calls WHERE project_id = @ProjectId)" : "NULL::numeric")},
                       {(todaySpend ? $"({TodaySql})" : "NULL::numeric")}
                """, new { work.Job.JobId, Stage = work.Stage.Name, work.Attempt, work.Project.ProjectId }, cancellationToken: ct));
            return new CallAllowance(current, project, today);
        }, ct);

    /// <summary>What every call has cost today, UTC (agent_bus_llm_spend_today_usd).</summary>
    public Task<decimal> TodayAsync(CancellationToken ct) =>
        db.RunAsync("llm_spend_today", c => c.ExecuteScalarAsync<decimal>(new CommandDefinition(TodaySql, cancellationToken: ct)), ct);

    // Erased projects' calls count too (kept as an anonymous daily sum): erasing a project does not
    // give the day's cap back.
    private const string TodaySql =
        """
        SELECT coalesce((SELECT sum(cost_usd) FROM llm_calls WHERE created_at >= date_trunc('day', now(), 'UTC')), 0)
             + coalesce((SELECT sum(cost_usd) FROM llm_spend_erased WHERE day = (now() AT TIME ZONE 'UTC')::date), 0)
        """;

    /// <summary>
    /// Records one call of a stage's attempt; <paramref name="seq"/> numbers the attempt's calls
    /// (1, then 2 for a repair turn). Recorded once per attempt (its run id): the same call written
    /// again changes nothing.
    /// </summary>
    public Task RecordLlmCallAsync(StageWork work, Guid taskId, int seq, LlmCallRecord call, CancellationToken ct) =>
        db.ExecuteAsync("llm_call_insert",
            """
            INSERT INTO llm_calls (job_id, project_id, task_id, attempt, run_id, seq, stage, agent_type, provider, model, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, latency_ms, cost_usd)
            VALUES (@JobId, @ProjectId, @taskId, @Attempt, @RunId, @seq, @Stage, @AgentType, @Provider, @Model, @InputTokens, @OutputTokens, @CacheReadTokens, @CacheWriteTokens, @LatencyMs, @CostUsd)
            ON CONFLICT (run_id, seq) DO NOTHING
            """,
            new
            {
                work.Job.JobId, work.Project.ProjectId, taskId, work.Attempt, work.RunId, seq, Stage = work.Stage.Name, call.AgentType, call.Provider, call.Model,
                call.InputTokens, call.OutputTokens, call.CacheReadTokens, call.CacheWriteTokens, call.LatencyMs, call.CostUsd,
            }, ct);

    /// <summary>Totals over a job's or a project's calls: overall, by agent type, and by provider and model.</summary>
    public Task<(UsageTotals Total, IReadOnlyList<UsageTotals> ByAgent, IReadOnlyList<UsageTotals> ByModel)> UsageAsync(Guid? jobId, Guid? projectId, CancellationToken ct) =>
        db.RunAsync("usage", async c =>
        {
            var rows = (await c.QueryAsync<UsageTotals>(new CommandDefinition(
                """
                SELECT agent_type, provider, model, count(*) AS calls,
                       sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
                       sum(cache_read_tokens) AS cache_read_tokens, sum(cache_write_tokens) AS cache_write_tokens,
                       count(*) FILTER (WHERE cost_usd IS NULL) AS unpriced_calls, coalesce(sum(cost_usd), 0) AS known_cost_usd
                FROM llm_calls WHERE (@jobId::uuid IS NULL OR job_id = @jobId) AND (@projectId::uuid IS NULL OR project_id = @projectId)
                GROUP BY agent_type, provider, model ORDER BY agent_type, provider, model
                """, new { jobId, projectId }, cancellationToken: ct))).ToList();
            static UsageTotals Sum(IEnumerable<UsageTotals> g, string? agent = null, string? provider = null, string? model = null) => new()
            {
                AgentType = agent, Provider = provider, Model = model,
                Calls = g.Sum(r => r.Calls), InputTokens = g.Sum(r => r.InputTokens), OutputTokens = g.Sum(r => r.OutputTokens),
                CacheReadTokens = g.Sum(r => r.CacheReadTokens), CacheWriteTokens = g.Sum(r => r.CacheWriteTokens),
                UnpricedCalls = g.Sum(r => r.UnpricedCalls), KnownCostUsd = g.Sum(r => r.KnownCostUsd),
            };
            return (Sum(rows),
                (IReadOnlyList<UsageTotals>)rows.GroupBy(r => r.AgentType).Select(g => Sum(g, agent: g.Key)).ToList(),
                (IReadOnlyList<UsageTotals>)rows.GroupBy(r => (r.Provider, r.Model)).Select(g => Sum(g, provider: g.Key.Provider, model: g.Key.Model)).ToList());
        }, ct);
}
