using AgentBus.Cli;

// Ctrl+C cancels the command (a watch stops following; exit 130) instead of killing the process mid-write.
using var interrupted = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    interrupted.Cancel();
};
return await CliApp.RunAsync(args, CliConsole.System(), interrupted.Token);
