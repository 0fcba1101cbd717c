using System.CommandLine;
using AgentBus.Client;

namespace AgentBus.Cli;

/// <summary>submit, status, jobs, the job actions (approve, request-changes, reject, cancel, resume) and usage.</summary>
public static class JobCommands
{
    public static IEnumerable<Command> Create(CliConsole console)
    {
        yield return Submit(console);
        yield return Status(console);
        yield return Jobs(console);
        foreach (var action in AgentBusApi.Actions.Keys)
        {
            yield return Act(console, action);
        }
        yield return Usage(console);
    }

    private static Command Submit(CliConsole console)
    {
        var name = new Argument<string>("name") { Description = "The project's name." };
        var requirements = new Argument<string?>("requirements") { Description = "The requirements (else --file, else stdin).", Arity = ArgumentArity.ZeroOrOne };
        var file = new Option<string?>("--file", "-f") { Description = "Read the requirements from this file ('-' for stdin)." };
        var budget = new Option<decimal?>("--budget") { Description = "The project's budget in USD (no more than the default unless you are an admin)." };
        var wait = new Option<bool>("--wait") { Description = "Follow the job as watch does, and exit with how it ended." };
        var key = new Option<string?>("--idempotency-key")
        {
            Description = "Name this submission: submitting again with the same key (within 24 hours) prints the first job instead of starting another. Default: a new key per run.",
        };
        var stop = StopAtApprovalOption();
        var json = CliApp.JsonOption();
        var submit = new Command("submit", "Submit a project's requirements; prints the new job's id.") { name, requirements, file, budget, key, wait, stop, json };
        submit.SetSessionAction(console, async (parse, session, ct) =>
        {
            var text = await RequirementsAsync(console, parse.GetValue(requirements), parse.GetValue(file), ct);
            var created = (await session.Api.CreateProjectAsync(parse.GetValue(name), text, parse.GetValue(budget), ct, parse.GetValue(key))).Require();
            if (parse.GetValue(json))
            {
                Output.JsonLine(console, created);
            }
            else
            {
                console.Out.WriteLine(created.JobId);
            }
            return parse.GetValue(wait)
                ? await WatchCommand.FollowAsync(console, session, created.JobId, parse.GetValue(json), parse.GetValue(stop), ct)
                : ExitCodes.Ok;
        });
        return submit;
    }

    public static Option<bool> StopAtApprovalOption() =>
        new("--stop-at-approval") { Description = "Stop (exit 4) when the job waits for approval instead of waiting through it." };

    /// <summary>From the argument, else the file (- is stdin), else piped stdin; one of them, never two.</summary>
    public static async Task<string> RequirementsAsync(CliConsole console, string? argument, string? file, CancellationToken ct)
    {
        if (argument is not null && file is not null)
        {
            throw new CliException(ExitCodes.Usage, "Give the requirements once: as an argument or with --file, not both.");
        }
        if (argument is not null)
        {
            return argument;
        }
        if (file is not null and not "-")
        {
            return File.Exists(file)
                ? await File.ReadAllTextAsync(file, ct)
                : throw new CliException(ExitCodes.Usage, $"No file {file}.");
        }
        if (file == "-" || console.InputRedirected)
        {
            return await console.In.ReadToEndAsync(ct);
        }
        throw new CliException(ExitCodes.Usage, "Give the requirements as an argument, with --file, or on stdin.");
    }

    private static Command Status(CliConsole console)
    {
        var job = CliApp.JobArgument();
        var json = CliApp.JsonOption();
        var status = new Command("status", "A job: its status and its stages.") { job, json };
        status.SetSessionAction(console, async (parse, session, ct) =>
        {
            var found = (await session.Api.GetJobAsync(parse.GetValue(job), ct)).Require();
            if (parse.GetValue(json))
            {
                Output.Json(console, found);
                return ExitCodes.Ok;
            }
            console.Ansi.Write(Output.Stages(found));
            if (found.Error is { } error)
            {
                console.Out.WriteLine($"error: {error.Code} {error.Message}".TrimEnd());
            }
            return ExitCodes.Ok;
        });
        return status;
    }

    private static Command Jobs(CliConsole console)
    {
        var status = new Option<string?>("--status") { Description = "Only jobs in this status (queued, running, waiting_for_approval, completed, failed, canceled, rejected)." };
        var search = new Option<string?>("--search", "-q") { Description = "Only jobs whose project's name holds this text." };
        var limit = new Option<int>("--limit", "-n") { Description = "How many, newest first.", DefaultValueFactory = _ => 20 };
        var json = CliApp.JsonOption();
        var jobs = new Command("jobs", "Jobs, newest first.") { status, search, limit, json };
        jobs.SetSessionAction(console, async (parse, session, ct) =>
        {
            var page = (await session.Api.ListJobsAsync(parse.GetValue(status), parse.GetValue(search), null, parse.GetValue(limit), ct)).Require();
            if (parse.GetValue(json))
            {
                Output.Json(console, page);
                return ExitCodes.Ok;
            }
            Output.Table(console, ["JOB", "PROJECT", "STATUS", "STAGE", "COST", "CREATED"],
                page.Items.Select(j => new[] { j.JobId.ToString(), j.ProjectName, j.Status, j.Stage, Output.Usd(j.CostUsd), Output.Time(j.CreatedAt) }));
            return ExitCodes.Ok;
        });
        return jobs;
    }

    private static Command Act(CliConsole console, string action)
    {
        var job = CliApp.JobArgument();
        var field = AgentBusApi.Actions[action];
        var text = field is null ? null : new Option<string?>("--" + field, field == "notes" ? "-m" : "-r")
        {
            Description = action == "request-changes" ? "What to change in the PRD." : $"The {field}, recorded with the decision.",
            Required = action == "request-changes",
        };
        var json = CliApp.JsonOption();
        var command = new Command(action, action switch
        {
            "approve" => "Approve the job's PRD: the rest of the pipeline runs.",
            "request-changes" => "Have the PRD regenerated from your notes; the job waits for approval again.",
            "reject" => "Reject the job's PRD: the job ends.",
            "cancel" => "Cancel the job: its running stages stop.",
            _ => "Continue a job its budget stopped, from the stage that stopped.",
        }) { job, json };
        if (text is not null)
        {
            command.Options.Add(text);
        }
        command.SetSessionAction(console, async (parse, session, ct) =>
        {
            var changed = (await session.Api.ActAsync(parse.GetValue(job), action, text is null ? null : parse.GetValue(text), ct)).Require();
            if (parse.GetValue(json))
            {
                Output.Json(console, changed);
            }
            else
            {
                console.Out.WriteLine($"Job {changed.JobId} is {changed.Status}.");
            }
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Usage(CliConsole console)
    {
        var job = new Argument<Guid?>("job") { Description = "The job's id (or --project).", Arity = ArgumentArity.ZeroOrOne };
        var project = new Option<Guid?>("--project", "-p") { Description = "A project's usage over all its jobs." };
        var json = CliApp.JsonOption();
        var usage = new Command("usage", "Tokens, calls and cost of a job (or a project), by agent.") { job, project, json };
        usage.Validators.Add(result =>
        {
            if (result.GetValue(job) is null == result.GetValue(project) is null)
            {
                result.AddError("Give a job id or --project, one of them.");
            }
        });
        usage.SetSessionAction(console, async (parse, session, ct) =>
        {
            var read = parse.GetValue(job) is { } jobId
                ? await session.Api.GetJobUsageAsync(jobId, ct)
                : await session.Api.GetProjectUsageAsync(parse.GetValue(project)!.Value, ct);
            var found = read.Require();
            if (parse.GetValue(json))
            {
                Output.Json(console, found);
                return ExitCodes.Ok;
            }
            Output.Table(console, ["AGENT", "PROVIDER", "CALLS", "INPUT TOKENS", "OUTPUT TOKENS", "COST"],
                found.ByAgent.Select(l => new[] { l.AgentType, l.Provider, Output.Number(l.Calls), Output.Number(l.InputTokens), Output.Number(l.OutputTokens), Output.Usd(l.CostUsd) })
                    .Append(["total", "", Output.Number(found.Calls), Output.Number(found.InputTokens), Output.Number(found.OutputTokens), Output.Usd(found.CostUsd ?? found.KnownCostUsd)]));
            if (found.BudgetUsd is { } budget)
            {
                console.Out.WriteLine($"budget {Output.Usd(budget)}");
            }
            return ExitCodes.Ok;
        });
        return usage;
    }
}
