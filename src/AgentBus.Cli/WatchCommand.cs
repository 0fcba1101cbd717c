using System.CommandLine;
using System.Globalization;
using AgentBus.Client;
using Spectre.Console;

namespace AgentBus.Cli;

/// <summary>
/// watch: a job's events from the api's stream (GET /api/jobs/{id}/events) as they happen, from
/// its first; a dropped connection resumes after the last event seen (Last-Event-ID, in
/// <see cref="JobEventsClient"/>), so none is missed or shown twice. Exits with how the job ended.
/// </summary>
public static class WatchCommand
{
    public static IEnumerable<Command> Create(CliConsole console)
    {
        var job = CliApp.JobArgument();
        var stop = JobCommands.StopAtApprovalOption();
        var json = new Option<bool>("--json") { Description = "Print each event as one line of JSON (JSON Lines)." };
        var watch = new Command("watch", "Follow a job live until it ends; the exit code says how it ended.") { job, stop, json };
        watch.SetSessionAction(console, (parse, session, ct) =>
            FollowAsync(console, session, parse.GetValue(job), parse.GetValue(json), parse.GetValue(stop), ct));
        yield return watch;
    }

    public static async Task<int> FollowAsync(CliConsole console, CliSession session, Guid jobId, bool json, bool stopAtApproval, CancellationToken ct)
    {
        var job = (await session.Api.GetJobAsync(jobId, ct)).Require();   // an unknown job or a refused key says so here
        if (json || !console.Interactive)
        {
            return await FollowAsync(session, job, stopAtApproval, e =>
            {
                if (json)
                {
                    Output.JsonLine(console, e);
                }
                else
                {
                    console.Out.WriteLine(Line(e));
                }
                return Task.CompletedTask;
            }, ct);
        }
        // A person at a terminal: the stages table, kept current (re-read on each event, as the web page does).
        return await console.Ansi.Live(Output.Stages(job)).StartAsync(async live => await FollowAsync(session, job, stopAtApproval, async e =>
        {
            job = (await session.Api.GetJobAsync(jobId, ct)).Value ?? job;
            live.UpdateTarget(new Rows(Output.Stages(job), new Text(Line(e))));
        }, ct));
    }

    private static async Task<int> FollowAsync(CliSession session, Job job, bool stopAtApproval, Func<JobEvent, Task> show, CancellationToken ct)
    {
        string? last = null;
        await foreach (var e in session.Events.ReadJobAsync(job.JobId, 0, ct))
        {
            await show(e);
            last = e.Type;
            if (stopAtApproval && e.Type == "approval_requested"
                && (await session.Api.GetJobAsync(job.JobId, ct)).Value?.Status == "waiting_for_approval")
            {
                return ExitCodes.WaitingForApproval;
            }
        }
        if (last is { } type && JobEventsClient.EndsStream(type))
        {
            return type switch { "job_completed" => ExitCodes.Ok, "job_failed" => ExitCodes.JobFailed, _ => ExitCodes.JobStopped };
        }
        // The stream ended without the job's end: the api refused it (the job's read says why) or is gone.
        var now = (await session.Api.GetJobAsync(job.JobId, ct)).Require();
        return ExitCodes.ForJob(now.Status) is { } code && now.Status != "waiting_for_approval"
            ? code
            : throw new CliException(ExitCodes.Api, $"The event stream of job {job.JobId} ended while the job is {now.Status}.");
    }

    /// <summary>One event as a plain line: time, number, type, stage, and who acted or why.</summary>
    public static string Line(JobEvent e)
    {
        var detail = e.By ?? e.Text("error") ?? e.Text("reason") ?? e.Text("notes");
        return string.Join(' ', new[]
        {
            e.CreatedAt.UtcDateTime.ToString("HH:mm:ss", CultureInfo.InvariantCulture),
            "#" + e.Seq.ToString(CultureInfo.InvariantCulture),
            e.Type,
            e.Stage,
            detail is null ? null : "(" + detail.ReplaceLineEndings(" ") + ")",
        }.Where(part => !string.IsNullOrEmpty(part)));
    }
}
