using System.Diagnostics;

namespace AgentBus.Data;

/// <summary>
/// Who asked for a batched change: its span (the parent of what the change queues) and its
/// execution context (so that the change's log lines carry its trace and log scope).
/// </summary>
internal sealed record Caller(Activity? Span, ExecutionContext? Context)
{
    public static Caller Current() => new(Activity.Current, ExecutionContext.Capture());

    public ActivityContext SpanContext => Span?.Context ?? default;

    /// <summary>Runs <paramref name="action"/> as if the caller did (synchronously).</summary>
    public void Run(Action action)
    {
        if (Context is null)
        {
            action();
            return;
        }
        ExecutionContext.Run(Context, static state => ((Action)state!)(), action);
    }
}
