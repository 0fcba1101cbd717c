using AgentBus.Data;
using Npgsql;

namespace AgentBus.UnitTests.Pipeline;

/// <summary>
/// Group commit on its own: its commit function is the test's, which records the
/// batches and holds each one open until the test lets it finish.
/// </summary>
public sealed class GroupCommitTests
{
    private sealed record Item(Guid JobId, string Name);

    private sealed class Recorder
    {
        private readonly object _lock = new();
        public List<string[]> Batches { get; } = [];
        public TaskCompletionSource FirstEntered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public string? Poison { get; init; }

        public async Task<string[]> CommitAsync(IReadOnlyList<(Item Item, Caller Caller)> batch)
        {
            lock (_lock)
            {
                Batches.Add([.. batch.Select(b => b.Item.Name)]);
            }
            FirstEntered.TrySetResult();
            await Release.Task;
            if (batch.Any(b => b.Item.Name == Poison))
            {
                throw new PostgresException("value too long", "ERROR", "ERROR", "22001");
            }
            return [.. batch.Select(b => b.Item.Name + " done")];
        }
    }

    [Fact]
    public async Task Calls_that_arrive_while_a_batch_commits_go_together_in_the_next_one()
    {
        var recorder = new Recorder();
        var batcher = new GroupCommit<Item, string>("test", i => i.JobId, recorder.CommitAsync);
        Guid a = Guid.NewGuid(), b = Guid.NewGuid(), c = Guid.NewGuid();

        var first = batcher.RunAsync(new Item(a, "a1"));
        await recorder.FirstEntered.Task.WaitAsync(TimeSpan.FromSeconds(10));
        // While a1 commits: a second task of job a, and tasks of jobs b and c.
        var rest = new[] { batcher.RunAsync(new Item(a, "a2")), batcher.RunAsync(new Item(b, "b1")), batcher.RunAsync(new Item(c, "c1")) };
        recorder.Release.SetResult();

        Assert.Equal("a1 done", await first.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(["a2 done", "b1 done", "c1 done"], await Task.WhenAll(rest).WaitAsync(TimeSpan.FromSeconds(10)));
        // a2, b1 and c1 arrived together: one batch (a2 is its job's only task in it).
        Assert.Equal(new[] { new[] { "a1" }, ["a2", "b1", "c1"] }, recorder.Batches);
    }

    [Fact]
    public async Task A_second_task_of_a_job_waits_for_the_next_batch()
    {
        var recorder = new Recorder();
        var batcher = new GroupCommit<Item, string>("test", i => i.JobId, recorder.CommitAsync);
        Guid a = Guid.NewGuid(), b = Guid.NewGuid();

        var blocker = batcher.RunAsync(new Item(b, "b1"));
        await recorder.FirstEntered.Task.WaitAsync(TimeSpan.FromSeconds(10));
        var calls = new[] { batcher.RunAsync(new Item(a, "a1")), batcher.RunAsync(new Item(a, "a2")), batcher.RunAsync(new Item(b, "b2")) };
        recorder.Release.SetResult();
        await Task.WhenAll([blocker, .. calls]).WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(new[] { new[] { "b1" }, ["a1", "b2"], ["a2"] }, recorder.Batches);
    }

    [Fact]
    public async Task When_a_statement_fails_in_a_batch_each_task_is_committed_alone_and_only_the_bad_one_fails()
    {
        var recorder = new Recorder { Poison = "bad" };
        var batcher = new GroupCommit<Item, string>("test", i => i.JobId, recorder.CommitAsync);

        var blocker = batcher.RunAsync(new Item(Guid.NewGuid(), "first"));
        await recorder.FirstEntered.Task.WaitAsync(TimeSpan.FromSeconds(10));
        var good = batcher.RunAsync(new Item(Guid.NewGuid(), "good"));
        var bad = batcher.RunAsync(new Item(Guid.NewGuid(), "bad"));
        recorder.Release.SetResult();

        Assert.Equal("first done", await blocker.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal("good done", await good.WaitAsync(TimeSpan.FromSeconds(10)));
        var error = await Assert.ThrowsAsync<PostgresException>(() => bad.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal("22001", error.SqlState);
        Assert.Equal(new[] { new[] { "first" }, ["good", "bad"], ["good"], ["bad"] }, recorder.Batches);
    }
}
