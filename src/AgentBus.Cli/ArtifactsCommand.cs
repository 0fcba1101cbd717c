using System.CommandLine;
using System.Text;
using System.Text.RegularExpressions;
using AgentBus.Client;

namespace AgentBus.Cli;

/// <summary>
/// artifacts: a job's deliverables, listed, or written to a directory as files named as in the
/// api's zip (01-prd.md, 02-plan.json, ...: the stage's place in the pipeline, its name, its format).
/// </summary>
public static partial class ArtifactsCommand
{
    public static Command Create(CliConsole console)
    {
        var job = CliApp.JobArgument();
        var output = new Option<DirectoryInfo?>("--out", "-o") { Description = "Write the latest version of every artifact into this directory." };
        var json = CliApp.JsonOption();
        var artifacts = new Command("artifacts", "A job's artifacts: listed, or written as files with --out.") { job, output, json };
        artifacts.SetSessionAction(console, async (parse, session, ct) =>
        {
            var jobId = parse.GetValue(job);
            var list = (await session.Api.ListArtifactsAsync(jobId, ct)).Require();
            if (parse.GetValue(output) is not { } directory)
            {
                if (parse.GetValue(json))
                {
                    Output.Json(console, list);
                    return ExitCodes.Ok;
                }
                Output.Table(console, ["TYPE", "VERSION", "CONTENT TYPE", "BYTES", "CREATED"],
                    list.Select(a => new[] { a.Type, a.Version.ToString(System.Globalization.CultureInfo.InvariantCulture), a.ContentType, Output.Number(a.SizeBytes), Output.Time(a.CreatedAt) }));
                return ExitCodes.Ok;
            }
            var written = await WriteAsync(session, jobId, list, directory, ct);
            if (parse.GetValue(json))
            {
                Output.Json(console, written);
            }
            else
            {
                written.ForEach(console.Out.WriteLine);
            }
            return ExitCodes.Ok;
        });
        return artifacts;
    }

    /// <summary>Writes each type's latest version; answers the paths written, in pipeline order.</summary>
    private static async Task<List<string>> WriteAsync(CliSession session, Guid jobId, List<ArtifactListItem> list, DirectoryInfo directory, CancellationToken ct)
    {
        var job = (await session.Api.GetJobAsync(jobId, ct)).Require();
        var order = job.Stages.Select((s, i) => (s.Stage, i)).ToDictionary(p => p.Stage, p => p.i);
        directory.Create();
        var written = new List<string>();
        foreach (var type in list.Select(a => a.Type).Distinct().OrderBy(t => order.GetValueOrDefault(t, int.MaxValue)))
        {
            if (!ArtifactType().IsMatch(type))
            {
                throw new CliException(ExitCodes.Api, $"The api named an artifact '{type}', which is no file name.");   // never a path of its choosing
            }
            var artifact = (await session.Api.GetArtifactAsync(jobId, type, null, ct)).Require();
            var path = Path.Combine(directory.FullName, FileName(order.GetValueOrDefault(type, order.Count), artifact));
            // UTF-8 without a BOM, as the api's zip holds it.
            await File.WriteAllTextAsync(path, artifact.Content, new UTF8Encoding(encoderShouldEmitUTF8Identifier: false), ct);
            written.Add(path);
        }
        return written;
    }

    public static string FileName(int stageIndex, Artifact artifact) =>
        $"{stageIndex + 1:00}-{artifact.Type}.{(artifact.ContentType == "application/json" ? "json" : "md")}";

    [GeneratedRegex("^[a-z_]{1,40}$")]
    private static partial Regex ArtifactType();
}
