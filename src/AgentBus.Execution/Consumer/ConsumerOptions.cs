using AgentBus.Queue;

namespace AgentBus.Consumer;

/// <summary>How a process consumes a queue, bound from "AgentBus:Worker".</summary>
public sealed class ConsumerOptions
{
    public const string Section = "AgentBus:Worker";

    public string Queue { get; set; } = TaskQueue.Cpu;

    /// <summary>Tasks run at once by this process.</summary>
    public int Concurrency { get; set; } = 8;

    /// <summary>A stage still running after this long is abandoned and retried.</summary>
    public TimeSpan StageTimeout { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>On SIGTERM, in-flight tasks get this long to finish before they are handed back to the queue.</summary>
    public TimeSpan ShutdownGrace { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>Longest wait between reads when no wake-up notice arrives.</summary>
    public TimeSpan IdlePoll { get; set; } = TimeSpan.FromMilliseconds(500);
}
