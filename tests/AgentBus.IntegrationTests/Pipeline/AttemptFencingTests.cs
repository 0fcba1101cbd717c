using AgentBus.Jobs;
using AgentBus.Queue;
using AgentBus.Spend;
using AgentBus.Store;
using Dapper;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Npgsql;
using StackExchange.Redis;

namespace AgentBus.IntegrationTests.Pipeline;

/// <summary>
/// A task that runs twice is paid for twice: these pin the fences that stop it, on the topology's
/// Postgres and Redis, with the job library driven directly (a job of its own that no worker has a
/// task for, and queues no worker consumes). A lapsed lease taken over stays with its new holder;
/// only the attempt running now records a result; a second copy of a running task does not start
/// a second run; a model call is recorded once per attempt; a superseded attempt is told so before
/// its next call.
/// </summary>
[Collection(AppHostCollection.Name)]
public sealed class AttemptFencingTests(AppHostFixture fixture) : IAsyncLifetime
{
    private IHost _jobs = null!;
    private ConnectionMultiplexer _redis = null!;

    public async ValueTask InitializeAsync()
    {
        _jobs = await JobLibrary.BuildAsync(fixture);
        _redis = await ConnectionMultiplexer.ConnectAsync(await fixture.ConnectionStringAsync("redis"));
    }

    public async ValueTask DisposeAsync()
    {
        // Ended, so the reconciler does not hand these jobs to the topology's workers.
        await using (var connection = new NpgsqlConnection(await fixture.PostgresConnectionStringAsync()))
        {
            await connection.ExecuteAsync("UPDATE jobs SET status = 'canceled', completed_at = now() WHERE job_id = ANY(@_jobIds)", new { _jobIds });
        }
        _jobs.Dispose();
        await _redis.DisposeAsync();
    }

    private readonly List<Guid> _jobIds = [];

    private StageLedger Ledger => _jobs.Services.GetRequiredService<StageLedger>();

    [Fact]
    public async Task A_lease_taken_over_stays_with_its_new_holder_and_the_old_one_learns_it_lost_it()
    {
        var queue = new TaskQueue(_redis);
        var name = $"test-{Guid.NewGuid():N}";
        try
        {
            await queue.EnsureGroupAsync(name);
            await queue.EnqueueAsync(name, [new TaskMessage(Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid(), AgentBus.Jobs.Pipeline.Prd, null, null)]);
            var mine = Assert.Single(await queue.ReadAsync(name, "slow", 1));
            Assert.Empty(await queue.RenewAsync(name, "slow", [mine.EntryId]));

            // "slow" stalls past its lease; "other" takes the entry over.
            await Task.Delay(TimeSpan.FromMilliseconds(300), TestContext.Current.CancellationToken);
            var taken = Assert.Single(await queue.ReclaimAsync(name, "other", TimeSpan.FromMilliseconds(100), 1));
            Assert.Equal(mine.EntryId, taken.EntryId);

            // The stalled consumer's renewal does not claim it back: it learns the entry is lost.
            Assert.Equal([mine.EntryId], await queue.RenewAsync(name, "slow", [mine.EntryId]));
            Assert.Equal("other", await queue.OwnerAsync(mine));
            // Nor does its acknowledgement remove the entry from under the new holder.
            await queue.AckAsync(mine, "slow");
            Assert.Equal("other", await queue.OwnerAsync(mine));
            Assert.True(await queue.IsPendingAsync(TaskQueue.LeaseOf(mine)));

            await queue.AckAsync(taken, "other");
            Assert.Null(await queue.OwnerAsync(mine));
            Assert.False(await queue.IsPendingAsync(TaskQueue.LeaseOf(mine)));
        }
        finally
        {
            await _redis.GetDatabase().KeyDeleteAsync(TaskQueue.StreamKey(name));
        }
    }

    [Fact]
    public async Task Only_the_attempt_running_now_records_its_result()
    {
        var task = await QueuedPrdAsync();
        var first = (await Ledger.BeginStageAsync(task, "first", "cpu/1-0")).Work!;
        // The same entry again: the first consumer's lease lapsed and another reclaimed it.
        var second = (await Ledger.BeginStageAsync(task, "second", "cpu/1-0")).Work!;
        Assert.Equal((1, 2), (first.Attempt, second.Attempt));

        Assert.False(await Ledger.FailAttemptAsync(task, first.Attempt, "stage_error", "late failure of the superseded attempt", final: true, TestContext.Current.CancellationToken));
        Assert.False(await Ledger.CompleteStageAsync(task, first.Attempt, new StageOutput("from the superseded attempt", [])));
        Assert.True(await Ledger.CompleteStageAsync(task, second.Attempt, new StageOutput("from the attempt running now", [])));

        await using var connection = new NpgsqlConnection(await fixture.PostgresConnectionStringAsync());
        var artifacts = (await connection.QueryAsync<string>("SELECT content FROM artifacts WHERE job_id = @JobId", new { task.JobId })).ToList();
        Assert.Equal(["from the attempt running now"], artifacts);
        Assert.Equal("waiting_for_approval", await connection.ExecuteScalarAsync<string>("SELECT status FROM jobs WHERE job_id = @JobId", new { task.JobId }));
    }

    [Fact]
    public async Task A_second_copy_of_a_running_task_does_not_start_a_second_run_unless_its_entry_is_gone()
    {
        var task = await QueuedPrdAsync();
        var running = await Ledger.BeginStageAsync(task, "first", "cpu/1-0");
        Assert.Equal(1, running.Work!.Attempt);

        // The relay or the reconciler sent the task again: another entry id.
        var copy = await Ledger.BeginStageAsync(task, "second", "cpu/2-0");
        Assert.Null(copy.Work);
        Assert.Equal("cpu/1-0", copy.HeldBy);

        // The consumer found cpu/1-0 gone from Redis (lost with its data): the copy takes over.
        var takeOver = await Ledger.BeginStageAsync(task, "second", "cpu/2-0", takeOver: true);
        Assert.Equal(2, takeOver.Work!.Attempt);
        Assert.Null(takeOver.HeldBy);
    }

    [Fact]
    public async Task A_call_is_recorded_once_per_attempt_and_a_superseded_attempt_is_told_before_its_next_call()
    {
        var spend = _jobs.Services.GetRequiredService<LlmSpend>();
        var task = await QueuedPrdAsync();
        var first = (await Ledger.BeginStageAsync(task, "first", "cpu/1-0")).Work!;
        var call = new LlmCallRecord("product_manager", "openai", "gpt-4o-mini", 1000, 500, 0, 0, 120, 0.25m);

        Assert.True((await spend.AllowanceAsync(first, projectSpend: true, todaySpend: true, TestContext.Current.CancellationToken)).AttemptCurrent);
        await spend.RecordLlmCallAsync(first, task.TaskId, 1, call, TestContext.Current.CancellationToken);
        // Written again (an acknowledgement lost, a retried insert): still one call.
        await spend.RecordLlmCallAsync(first, task.TaskId, 1, call, TestContext.Current.CancellationToken);
        await spend.RecordLlmCallAsync(first, task.TaskId, 2, call with { CostUsd = 0.5m }, TestContext.Current.CancellationToken);

        var second = (await Ledger.BeginStageAsync(task, "second", "cpu/1-0")).Work!;
        var stale = await spend.AllowanceAsync(first, projectSpend: true, todaySpend: true, TestContext.Current.CancellationToken);
        var current = await spend.AllowanceAsync(second, projectSpend: true, todaySpend: true, TestContext.Current.CancellationToken);
        Assert.False(stale.AttemptCurrent);
        Assert.True(current.AttemptCurrent);
        Assert.Equal(0.75m, current.ProjectSpendUsd);
        Assert.True(current.TodaySpendUsd >= 0.75m, $"today's spend {current.TodaySpendUsd} leaves out this project's 0.75");

        await using var connection = new NpgsqlConnection(await fixture.PostgresConnectionStringAsync());
        Assert.Equal(2, await connection.ExecuteScalarAsync<int>("SELECT count(*) FROM llm_calls WHERE task_id = @TaskId", new { task.TaskId }));
    }

    private async Task<TaskMessage> QueuedPrdAsync()
    {
        var task = await JobLibrary.QueuedPrdAsync(fixture, "Fencing");
        _jobIds.Add(task.JobId);
        return task;
    }
}
