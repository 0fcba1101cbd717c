using AgentBus.Webhooks;

namespace AgentBus.UnitTests.Webhooks;

public sealed class RetryScheduleTests
{
    private static readonly RetrySchedule Defaults = new WebhookOptions().Schedule;

    [Fact]
    public void Delays_double_from_the_first_and_stop_at_the_maximum()
    {
        var schedule = new RetrySchedule(TimeSpan.FromSeconds(30), TimeSpan.FromHours(1), TimeSpan.FromHours(25), 0);
        Assert.Equal([30, 60, 120, 240, 480, 960, 1920, 3600, 3600], Enumerable.Range(1, 9).Select(a => schedule.BaseDelay(a).TotalSeconds));
        Assert.Equal(TimeSpan.FromHours(1), schedule.BaseDelay(int.MaxValue));
    }

    [Fact]
    public void Jitter_spreads_each_delay_within_its_fraction()
    {
        var schedule = new RetrySchedule(TimeSpan.FromSeconds(10), TimeSpan.FromHours(1), TimeSpan.FromHours(25), 0.2);
        Assert.Equal(8, schedule.Delay(1, 0).TotalSeconds, 6);
        Assert.Equal(10, schedule.Delay(1, 0.5).TotalSeconds, 6);
        Assert.Equal(12, schedule.Delay(1, 0.999999).TotalSeconds, 3);
    }

    [Fact]
    public void The_default_schedule_retries_for_at_least_a_day()
    {
        Assert.False(Defaults.GivesUp(TimeSpan.FromHours(24)));
        Assert.True(Defaults.GivesUp(Defaults.RetryFor));
        // Attempts keep coming until the window closes: no delay is longer than an hour and a fifth.
        Assert.True(Defaults.Delay(1000, 0.999999) <= TimeSpan.FromHours(1.2));
        Assert.True(Defaults.Delay(1, 0) > TimeSpan.Zero);
    }
}
