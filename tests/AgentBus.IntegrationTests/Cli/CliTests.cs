using System.IO.Compression;
using System.Text.Json;
using System.Text.RegularExpressions;
using AgentBus.Cli;

namespace AgentBus.IntegrationTests.Cli;

/// <summary>
/// agentbus against the real AppHost, run in process through its entry (CliApp.RunAsync): a
/// login, a submission followed to completion with the approval given by the CLI, a watch that
/// survives dropped connections, deliverables written as the api serves them, refusals explained.
/// </summary>
[Collection(AppHostCollection.Name)]
public sealed partial class CliTests(AppHostFixture fixture)
{
    private static readonly TimeSpan JobTimeout = TimeSpan.FromSeconds(90);

    private Uri ApiUrl => fixture.App.GetEndpoint("api", "http");

    [Fact]
    public async Task Submit_wait_follows_the_job_to_completion_while_approve_gives_the_approval()
    {
        using var cli = new CliRun();
        var login = await cli.RunAsync(["login", "--url", ApiUrl.ToString()], stdin: fixture.AdminApiKey + "\n");
        Assert.True(login.ExitCode == ExitCodes.Ok, login.ToString());
        Assert.DoesNotContain(fixture.AdminApiKey, login.Out + login.Error);
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(CliConfig.FilePermissions, File.GetUnixFileMode(CliConfig.PathIn(cli.ConfigDirectory)));
        }

        var output = new CliRun.Captured();
        var submit = cli.RunAsync(["submit", "CLI submit --wait", "--file", "-", "--wait"], stdin: SampleRequirements.Clinic, output: output);
        var jobId = Guid.Parse((await AgentBusAppFixture.EventuallyAsync(() => Task.FromResult(output.Text), t => t.Contains('\n'),
            TimeSpan.FromSeconds(30), "submit printing the job id")).Split('\n')[0]);

        // A person approves from another terminal once the PRD waits (the submit keeps waiting meanwhile).
        using var api = fixture.Api();
        await api.WaitForStatusAsync(jobId, "waiting_for_approval", JobTimeout);
        Assert.False(submit.IsCompleted, "submit --wait returned before the job ended");
        var approve = await cli.RunAsync(["approve", jobId.ToString(), "--notes", "ship it"]);
        Assert.True(approve.ExitCode == ExitCodes.Ok, approve.ToString());
        Assert.Matches($"^Job {jobId} is (queued|running)\\.$", approve.Out.Trim());

        var submitted = await submit.WaitAsync(JobTimeout);
        Assert.True(submitted.ExitCode == ExitCodes.Ok, submitted.ToString());
        Assert.Equal("completed", (string?)(await api.GetJobAsync(jobId))["status"]);
        var types = submitted.Lines.Skip(1).Select(l => l.Split(' ')[2]).ToList();
        Assert.Equal("job_created", types[0]);
        Assert.Equal("job_completed", types[^1]);
        Assert.Contains(submitted.Lines, l => l.Contains(" job_approved ", StringComparison.Ordinal) && l.EndsWith("(key:bootstrap)", StringComparison.Ordinal));

        // Acting on it again does not fit its state: one sentence on stderr with the api's trace id.
        var late = await cli.RunAsync(["approve", jobId.ToString()]);
        Assert.Equal(ExitCodes.Api, late.ExitCode);
        Assert.Matches(@"^Cannot approve a job that is completed; .* \(trace [0-9a-f-]{16,}\)\.$", late.Error.Trim());
    }

    [Fact]
    public async Task Watch_resumes_after_dropped_connections_without_missing_or_repeating_an_event()
    {
        await using var proxy = new TcpProxy(ApiUrl);
        using var cli = new CliRun(proxy.Url, fixture.AdminApiKey);
        using var api = fixture.Api();
        var (_, jobId) = await api.CreateProjectAsync("CLI watch through drops");
        var output = new CliRun.Captured();
        var watch = cli.RunAsync(["watch", jobId.ToString(), "--json"], output: output);
        await AgentBusAppFixture.EventuallyAsync(() => Task.FromResult(output.Text), t => t.Contains("\"approval_requested\"", StringComparison.Ordinal),
            JobTimeout, "watch showing the approval request");

        // Cut twice while the job waits (each time it comes back after event 6), a third time just
        // before the approval (the stages start while it is away), then while the stages run.
        for (var resumes = 1; resumes <= 2; resumes++)
        {
            proxy.Cut();
            await AgentBusAppFixture.EventuallyAsync(() => Task.FromResult(ResumedAfter(proxy)), ids => ids.Count(id => id > 0) >= resumes,
                TimeSpan.FromSeconds(30), $"watch reconnecting after cut {resumes}", ids => string.Join(", ", ids));
        }
        proxy.Cut();
        (await api.ActAsync(jobId, "approve")).Dispose();
        for (var more = 0; more < 4 && !watch.IsCompleted; more++)
        {
            await Task.WhenAny(watch, Task.Delay(400));
            proxy.Cut();
        }
        var watched = await watch.WaitAsync(JobTimeout);

        Assert.True(watched.ExitCode == ExitCodes.Ok, watched.ToString());
        var seen = watched.Lines.Select(l => JsonSerializer.Deserialize<JsonElement>(l)).Select(e => (Seq: e.GetProperty("seq").GetInt32(), Type: e.GetProperty("type").GetString())).ToList();
        var stored = (await fixture.EventsAsync(jobId)).Select(e => ((int)e["seq"]!, (string?)e["type"])).ToList();
        Assert.Equal(stored, seen);
        Assert.Equal("job_completed", seen[^1].Type);
        // Every reconnection asked for what came after the last event it had.
        var resumedAfter = ResumedAfter(proxy);
        Assert.True(resumedAfter.Count(id => id >= 6) >= 3, $"Last-Event-IDs sent: {string.Join(", ", resumedAfter)}");
    }

    /// <summary>The Last-Event-ID of every request for a job's events that went through the proxy.</summary>
    private static List<int> ResumedAfter(TcpProxy proxy) =>
        LastEventId().Matches(proxy.Sent).Select(m => int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture)).ToList();

    [Fact]
    public async Task Artifacts_out_writes_every_deliverable_byte_for_byte_as_the_api_zips_it()
    {
        using var api = fixture.Api();
        var (_, jobId) = await api.RunJobAsync("CLI artifacts", JobTimeout);
        using var cli = new CliRun(ApiUrl, fixture.AdminApiKey);
        var directory = Path.Combine(cli.ConfigDirectory, "out");

        var written = await cli.RunAsync(["artifacts", jobId.ToString(), "--out", directory]);

        Assert.True(written.ExitCode == ExitCodes.Ok, written.ToString());
        using var zip = new ZipArchive(await api.Http.GetStreamAsync($"/api/jobs/{jobId}/artifacts.zip"));
        var expected = zip.Entries.ToDictionary(e => e.FullName, e =>
        {
            using var bytes = new MemoryStream();
            e.Open().CopyTo(bytes);
            return bytes.ToArray();
        });
        Assert.Equal(11, expected.Count);
        Assert.Equal(expected.Keys.Order(), Directory.GetFiles(directory).Select(Path.GetFileName).Order());
        Assert.Equal(expected.Keys.Select(k => Path.Combine(directory, k)), written.Lines);
        Assert.All(expected, e => Assert.Equal(e.Value, File.ReadAllBytes(Path.Combine(directory, e.Key))));
    }

    [Fact]
    public async Task Submit_again_with_the_same_idempotency_key_prints_the_first_job_and_starts_no_other()
    {
        using var cli = new CliRun(ApiUrl, fixture.AdminApiKey);
        var key = $"cli-{Guid.NewGuid():N}";
        string[] submit = ["submit", "CLI idempotent submit", SampleRequirements.Clinic, "--idempotency-key", key];
        var first = await cli.RunAsync(submit);
        Assert.True(first.ExitCode == ExitCodes.Ok, first.ToString());
        var again = await cli.RunAsync(submit);
        Assert.True(again.ExitCode == ExitCodes.Ok, again.ToString());
        var jobId = Guid.Parse(first.Out.Trim());
        Assert.Equal(jobId, Guid.Parse(again.Out.Trim()));

        // The key names that request: with other requirements it is refused, and nothing is created.
        var other = await cli.RunAsync(["submit", "CLI idempotent submit", "Something else entirely.", "--idempotency-key", key]);
        Assert.Equal(ExitCodes.Api, other.ExitCode);
        Assert.Empty(other.Out);
        // Without a key each run is its own submission.
        var fresh = await cli.RunAsync(["submit", "CLI idempotent submit", SampleRequirements.Clinic]);
        Assert.NotEqual(jobId, Guid.Parse(fresh.Out.Trim()));
        using var api = fixture.Api();
        var jobs = await cli.RunAsync(["jobs", "--search", "CLI idempotent submit", "--json"]);
        Assert.Equal(2, JsonSerializer.Deserialize<JsonElement>(jobs.Out).GetProperty("items").GetArrayLength());
        foreach (var id in new[] { jobId, Guid.Parse(fresh.Out.Trim()) })
        {
            (await api.ActAsync(id, "cancel")).Dispose();
        }
    }

    [Fact]
    public async Task Refusals_exit_with_their_code_and_one_sentence_with_the_trace_id()
    {
        using var admin = fixture.Api();
        var viewerKey = await admin.CreateKeyAsync("CLI viewer", "viewer");
        var (_, jobId) = await admin.CreateProjectAsync("CLI refusals");

        using var viewer = new CliRun(ApiUrl, viewerKey);
        var forbidden = await viewer.RunAsync(["cancel", jobId.ToString()]);
        Assert.Equal(ExitCodes.Auth, forbidden.ExitCode);
        Assert.Matches(@"^[^\n]+ \(trace [0-9a-f-]{16,}\)\.$", forbidden.Error.Trim());

        var unknown = await viewer.RunAsync(["status", Guid.NewGuid().ToString(), "--json"]);
        Assert.Equal(ExitCodes.Api, unknown.ExitCode);
        Assert.StartsWith("No job with id ", unknown.Error, StringComparison.Ordinal);
        Assert.Empty(unknown.Out);

        using var stranger = new CliRun(ApiUrl, "abk_not_a_key");
        Assert.Equal(ExitCodes.Auth, (await stranger.RunAsync(["jobs"])).ExitCode);

        var status = await viewer.RunAsync(["status", jobId.ToString(), "--json"]);
        Assert.True(status.ExitCode == ExitCodes.Ok, status.ToString());
        Assert.Equal(jobId, JsonSerializer.Deserialize<JsonElement>(status.Out).GetProperty("job_id").GetGuid());
        (await admin.ActAsync(jobId, "cancel")).Dispose();
    }

    [Fact]
    public async Task Reads_print_a_table_for_people_and_the_api_s_json_for_scripts()
    {
        using var api = fixture.Api();
        var (_, jobId) = await api.CreateProjectAsync("CLI reads");
        using var cli = new CliRun(ApiUrl, fixture.AdminApiKey);

        var status = await cli.RunAsync(["status", jobId.ToString()]);
        Assert.True(status.ExitCode == ExitCodes.Ok, status.ToString());
        Assert.Contains($"job {jobId}: ", status.Out, StringComparison.Ordinal);
        Assert.Contains(status.Lines, l => Regex.IsMatch(l, @"^prd\s+prd_agent\s+\w+"));
        Assert.Contains(status.Lines, l => Regex.IsMatch(l, @"^delivery\s+delivery_agent\s+pending"));
        var table = await cli.RunAsync(["jobs", "--search", "CLI reads"]);
        Assert.Contains(table.Lines, l => l.StartsWith($"{jobId} ", StringComparison.Ordinal) && l.Contains("CLI reads", StringComparison.Ordinal));

        var json = await cli.RunAsync(["jobs", "--search", "CLI reads", "--json"]);
        Assert.Contains(JsonSerializer.Deserialize<JsonElement>(json.Out).GetProperty("items").EnumerateArray(), j => j.GetProperty("job_id").GetGuid() == jobId);
        var usage = await cli.RunAsync(["usage", jobId.ToString(), "--json"]);
        Assert.True(usage.ExitCode == ExitCodes.Ok, usage.ToString());
        Assert.True(JsonSerializer.Deserialize<JsonElement>(usage.Out).TryGetProperty("by_agent", out _), usage.Out);

        var created = JsonSerializer.Deserialize<JsonElement>((await cli.RunAsync(["keys", "create", "CLI reads", "--role", "viewer", "--json"])).Out);
        var keyId = created.GetProperty("id").GetGuid();
        Assert.Equal(ExitCodes.Ok, (await cli.RunAsync(["keys", "revoke", keyId.ToString()])).ExitCode);
        var keys = await cli.RunAsync(["keys", "list", "--json"]);
        var listed = JsonSerializer.Deserialize<JsonElement>(keys.Out).GetProperty("items").EnumerateArray().Single(k => k.GetProperty("id").GetGuid() == keyId);
        Assert.Equal(JsonValueKind.String, listed.GetProperty("revoked_at").ValueKind);
        Assert.DoesNotContain(created.GetProperty("key").GetString()!, keys.Out, StringComparison.Ordinal);
        (await api.ActAsync(jobId, "cancel")).Dispose();
    }

    [GeneratedRegex(@"GET /api/jobs/[0-9a-f-]+/events HTTP/1\.1\r\n(?:[^\r\n]+\r\n)*?Last-Event-ID: (\d+)\r\n", RegexOptions.IgnoreCase)]
    private static partial Regex LastEventId();
}
