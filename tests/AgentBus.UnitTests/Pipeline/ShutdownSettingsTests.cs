using AgentBus.Consumer;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace AgentBus.UnitTests.Pipeline;

/// <summary>
/// A drain must end before its tasks' leases lapse, or another consumer runs (and pays for) them
/// again: a shutdown grace as long as the lease is refused at start-up, and the host waits for the
/// grace and the hand-back after it.
/// </summary>
public sealed class ShutdownSettingsTests
{
    private static IHost Consumer(string lease, string grace)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["AgentBus:Queue:Lease"] = lease,
            ["AgentBus:Worker:ShutdownGrace"] = grace,
        });
        builder.Services.AddOptions<AgentBus.Queue.QueueOptions>().BindConfiguration(AgentBus.Queue.QueueOptions.Section);
        builder.AddStageConsumer();
        return builder.Build();
    }

    [Theory]
    [InlineData("00:00:30", "00:00:30")]
    [InlineData("00:00:30", "00:01:00")]
    [InlineData("00:00:30", "00:00:00")]
    public void A_grace_not_shorter_than_the_lease_is_refused(string lease, string grace)
    {
        // The host reads its shutdown timeout from the grace while it is built: it does not start.
        var refused = Assert.Throws<OptionsValidationException>(() => Consumer(lease, grace).Dispose());
        Assert.Contains("ShutdownGrace must be positive and shorter than AgentBus:Queue:Lease", refused.Message);
    }

    [Fact]
    public void The_host_waits_for_the_grace_and_the_hand_back()
    {
        using var host = Consumer("00:00:30", "00:00:20");
        Assert.Equal(TimeSpan.FromSeconds(20), host.Services.GetRequiredService<IOptions<ConsumerOptions>>().Value.ShutdownGrace);
        Assert.Equal(TimeSpan.FromSeconds(20) + TaskConsumer.HandBackAllowance + TimeSpan.FromSeconds(5),
            host.Services.GetRequiredService<IOptions<HostOptions>>().Value.ShutdownTimeout);
    }
}
