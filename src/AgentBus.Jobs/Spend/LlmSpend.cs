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
    /// <summary>What a project's priced calls have cost so far (the budget check's left side).</summary>
    public async Task<decimal> ProjectSpendAsync(Guid projectId, CancellationToken ct) =>
        await db.RunAsync("project_spend", c => c.ExecuteScalarAsync<decimal>(new CommandDefinition(
            "SELECT coalesce(sum(cost_usd), 0) FROM llm_calls WHERE project_id = @projectId", new { projectId }, cancellationToken: ct)), ct);

    public Task RecordLlmCallAsync(StageWork work, Guid taskId, LlmCallRecord call, CancellationToken ct) =>
        db.ExecuteAsync("llm_call_insert",
            """
            INSERT INTO llm_calls (job_id, project_id, task_id, stage, agent_type, provider, model, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, latency_ms, cost_usd)
            VALUES (@JobId, @ProjectId, @taskId, @Stage, @AgentType, @Provider, @Model, @InputTokens, @OutputTokens, @CacheReadTokens, @CacheWriteTokens, @LatencyMs, @CostUsd)
            """,
            new
            {
                work.Job.JobId, work.Project.ProjectId, taskId, Stage = work.Stage.Name, call.AgentType, call.Provider, call.Model,
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
