using System.CommandLine;

namespace AgentBus.Cli;

/// <summary>
/// The agentbus command line: parses <c>args</c> and runs the command against <see cref="CliConsole"/>.
/// Program.cs runs it on the process's console; tests run it in process with their own.
/// </summary>
public static class CliApp
{
    public static async Task<int> RunAsync(string[] args, CliConsole console, CancellationToken ct = default)
    {
        var parse = Root(console).Parse(args);
        var invocation = new InvocationConfiguration
        {
            Output = console.Out,
            Error = console.Error,
            EnableDefaultExceptionHandler = false,
            ProcessTerminationTimeout = null,   // Program.cs turns Ctrl+C into ct
        };
        if (parse.Errors.Count > 0 && parse.Action is not System.CommandLine.Help.HelpAction)
        {
            foreach (var error in parse.Errors)
            {
                await console.Error.WriteLineAsync(error.Message);
            }
            await console.Error.WriteLineAsync("Run agentbus --help for the commands and their options.");
            return ExitCodes.Usage;
        }
        try
        {
            return await parse.InvokeAsync(invocation, ct);
        }
        catch (CliException e)
        {
            await console.Error.WriteLineAsync(e.Message);
            return e.ExitCode;
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            return ExitCodes.Interrupted;
        }
        catch (HttpRequestException e)
        {
            // The event stream's calls (the typed client answers problems instead of throwing).
            await console.Error.WriteLineAsync($"The Agent Bus API did not answer ({e.Message}).");
            return ExitCodes.Api;
        }
    }

    public static RootCommand Root(CliConsole console)
    {
        var root = new RootCommand("agentbus: submit projects to Agent Bus, follow their jobs, approve PRDs and fetch the deliverables.");
        foreach (var command in SessionCommands.Create(console).Concat(JobCommands.Create(console)).Concat(WatchCommand.Create(console))
            .Append(ArtifactsCommand.Create(console)).Append(KeysCommand.Create(console)))
        {
            root.Subcommands.Add(command);
        }
        return root;
    }

    /// <summary>--json, on every command that reads.</summary>
    public static Option<bool> JsonOption() => new("--json") { Description = "Print JSON (snake_case, as the api answers) instead of a table." };

    /// <summary>The JOB argument: a job id.</summary>
    public static Argument<Guid> JobArgument() => new("job") { Description = "The job's id (what submit printed)." };

    /// <summary>Runs <paramref name="run"/> with a session of the stored login.</summary>
    public static void SetSessionAction(this Command command, CliConsole console, Func<ParseResult, CliSession, CancellationToken, Task<int>> run) =>
        command.SetAction(async (parse, ct) =>
        {
            using var session = CliSession.Open(console);
            return await run(parse, session, ct);
        });
}
