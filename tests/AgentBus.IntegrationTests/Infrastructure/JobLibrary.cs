using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace AgentBus.IntegrationTests.Infrastructure;

/// <summary>
/// The job library as a service builds it, on a topology's Postgres and Redis, not started: no
/// migrator, relay or consumer runs, so a test drives the ledger, queues and spend itself.
/// </summary>
public static class JobLibrary
{
    public static async Task<IHost> BuildAsync(AgentBusAppFixture fixture)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ConnectionStrings:agentbus"] = await fixture.PostgresConnectionStringAsync(),
            ["ConnectionStrings:redis"] = await fixture.ConnectionStringAsync("redis"),
        });
        builder.Services.AddMetrics();
        builder.AddAgentBusJobs("test");
        return builder.Build();
    }

    /// <summary>A project and its job whose prd stage is queued under a task no queue holds.</summary>
    public static async Task<AgentBus.Queue.TaskMessage> QueuedPrdAsync(AgentBusAppFixture fixture, string name)
    {
        var (projectId, jobId, taskId) = (Guid.CreateVersion7(), Guid.CreateVersion7(), Guid.CreateVersion7());
        await using var connection = new Npgsql.NpgsqlConnection(await fixture.PostgresConnectionStringAsync());
        await Dapper.SqlMapper.ExecuteAsync(connection,
            """
            INSERT INTO projects (project_id, name, requirements) VALUES (@projectId, @name, 'Users can export invoices as PDF.');
            INSERT INTO jobs (job_id, project_id, status, stage, event_epoch) VALUES (@jobId, @projectId, 'queued', 'prd', pg_postmaster_start_time());
            INSERT INTO stage_runs (job_id, stage, agent_type, status, task_id, queued_at)
            SELECT @jobId, s.stage, s.agent_type, CASE WHEN s.stage = 'prd' THEN 'queued' ELSE 'pending' END, CASE WHEN s.stage = 'prd' THEN @taskId END, now()
            FROM unnest(@stages, @agentTypes) AS s(stage, agent_type);
            """,
            new
            {
                projectId, jobId, taskId, name,
                stages = AgentBus.Jobs.Pipeline.Stages.Select(s => s.Name).ToArray(), agentTypes = AgentBus.Jobs.Pipeline.Stages.Select(s => s.AgentType).ToArray(),
            });
        return new AgentBus.Queue.TaskMessage(taskId, jobId, projectId, AgentBus.Jobs.Pipeline.Prd, null, null);
    }
}
