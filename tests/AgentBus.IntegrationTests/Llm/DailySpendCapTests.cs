using System.Net;
using Dapper;

namespace AgentBus.IntegrationTests.Llm;

/// <summary>
/// The global daily spend cap, on a topology whose cap ($0.05) is below what one call of its priced
/// model may cost: no call is made, the job stops resumable with budget_exceeded naming the cap,
/// and the worker exports the cap and today's spend for the alert that warns before it.
/// </summary>
[Collection(RateLimitCollection.Name)]
public sealed class DailySpendCapTests(RateLimitAppFixture fixture)
{
    [Fact]
    public async Task A_call_that_could_pass_the_daily_cap_is_not_made_and_the_job_stops_resumable()
    {
        // Two requests of the admin's tiny bucket (the rate-limit tests share this topology); the
        // job is followed in Postgres.
        using var api = fixture.Api();
        var (_, jobId) = await api.CreateProjectAsync("Capped");
        await using var db = new Npgsql.NpgsqlConnection(await fixture.PostgresConnectionStringAsync());
        var stopped = await StoppedAsync(db, jobId);
        Assert.Equal("budget_exceeded", stopped.Code);
        Assert.Contains("daily spend cap of $0.05 is reached", stopped.Message);
        Assert.Equal(0, await db.ExecuteScalarAsync<int>("SELECT count(*) FROM llm_calls WHERE job_id = @jobId", new { jobId }));

        // Resumable, as any budget stop: it stops again at once while the cap still holds.
        var events = await db.ExecuteScalarAsync<int>("SELECT count(*) FROM job_events WHERE job_id = @jobId AND type = 'job_failed'", new { jobId });
        using (var resume = await api.ActAsync(jobId, "resume"))
        {
            Assert.Equal(HttpStatusCode.OK, resume.StatusCode);
        }
        await AgentBusAppFixture.EventuallyAsync(
            () => db.ExecuteScalarAsync<int>("SELECT count(*) FROM job_events WHERE job_id = @jobId AND type = 'job_failed'", new { jobId }),
            n => n > events, TimeSpan.FromSeconds(60), "the resumed job stopping again");
        Assert.Equal(0, await db.ExecuteScalarAsync<int>("SELECT count(*) FROM llm_calls WHERE job_id = @jobId", new { jobId }));

        using var worker = fixture.CreateClient("worker");
        var metrics = await AgentBusAppFixture.EventuallyAsync(async () => PrometheusText.Parse(await worker.GetStringAsync("/metrics")),
            m => m.Sum("agent_bus_agent_llm_daily_cap_usd") > 0, TimeSpan.FromSeconds(30), "agent_bus_agent_llm_daily_cap_usd exported");
        Assert.Equal((double)RateLimitAppFixture.DailySpendCapUsd, metrics.Sum("agent_bus_agent_llm_daily_cap_usd"), 6);
        Assert.Equal(0, metrics.Sum("agent_bus_agent_llm_spend_today_usd"));
        Assert.True(metrics.Sum("agent_bus_agent_llm_calls_refused_total", l => l.GetValueOrDefault("reason") == "daily_spend_cap") >= 2,
            "agent_bus_agent_llm_calls_refused_total{reason=\"daily_spend_cap\"} does not count the two refused calls");
    }

    private static async Task<(string? Code, string? Message)> StoppedAsync(Npgsql.NpgsqlConnection db, Guid jobId) =>
        await AgentBusAppFixture.EventuallyAsync(
            () => db.QuerySingleAsync<(string Status, string? Code, string? Message)>(
                "SELECT status, error_code, error_message FROM jobs WHERE job_id = @jobId", new { jobId }),
            j => j.Status == "failed", TimeSpan.FromSeconds(60), $"job {jobId} stopping") is var (_, code, message) ? (code, message) : default;
}
