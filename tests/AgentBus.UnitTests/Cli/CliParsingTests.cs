using AgentBus.Cli;

namespace AgentBus.UnitTests.Cli;

/// <summary>The command line as agentbus parses it: what it accepts, what it refuses (exit 2), where requirements come from.</summary>
public sealed class CliParsingTests : IDisposable
{
    private readonly string _config = Directory.CreateTempSubdirectory("agentbus-parse-").FullName;

    [Theory]
    [InlineData("submit", "Name", "the requirements", "--budget", "2.5", "--wait")]
    [InlineData("request-changes", "0b8f3a57-3c0f-4a53-9a52-1d2f0d8f1c11", "--notes", "shorter")]
    [InlineData("usage", "--project", "0b8f3a57-3c0f-4a53-9a52-1d2f0d8f1c11")]
    [InlineData("keys", "create", "ci", "--role", "operator")]
    [InlineData("watch", "0b8f3a57-3c0f-4a53-9a52-1d2f0d8f1c11", "--stop-at-approval", "--json")]
    public void Accepts(params string[] args) =>
        Assert.Empty(CliApp.Root(Console()).Parse(args).Errors);

    [Theory]
    [InlineData("request-changes", "0b8f3a57-3c0f-4a53-9a52-1d2f0d8f1c11")]   // notes are required
    [InlineData("status", "not-a-job-id")]
    [InlineData("usage")]                                                      // a job or a project
    [InlineData("usage", "0b8f3a57-3c0f-4a53-9a52-1d2f0d8f1c11", "--project", "0b8f3a57-3c0f-4a53-9a52-1d2f0d8f1c11")]
    [InlineData("keys", "create", "ci", "--role", "root")]
    [InlineData("submit", "Name", "--budget", "a lot")]
    [InlineData("frobnicate")]
    public async Task Refuses_with_the_usage_exit_code_and_says_why(params string[] args)
    {
        var error = new StringWriter();
        var code = await CliApp.RunAsync(args, Console(error: error));
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("agentbus --help", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_command_that_needs_the_api_without_a_login_exits_with_the_auth_code()
    {
        var error = new StringWriter();
        Assert.Equal(ExitCodes.Auth, await CliApp.RunAsync(["jobs"], Console(error: error)));
        Assert.Contains("agentbus login", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Requirements_come_from_the_argument_the_file_or_stdin_and_only_one()
    {
        var file = Path.Combine(_config, "requirements.md");
        await File.WriteAllTextAsync(file, "from the file");
        Assert.Equal("from the argument", await JobCommands.RequirementsAsync(Console(stdin: "from stdin"), "from the argument", null, default));
        Assert.Equal("from the file", await JobCommands.RequirementsAsync(Console(stdin: "from stdin"), null, file, default));
        Assert.Equal("from stdin", await JobCommands.RequirementsAsync(Console(stdin: "from stdin"), null, null, default));
        Assert.Equal("from stdin", await JobCommands.RequirementsAsync(Console(stdin: "from stdin"), null, "-", default));

        var both = await Assert.ThrowsAsync<CliException>(() => JobCommands.RequirementsAsync(Console(), "a", file, default));
        var none = await Assert.ThrowsAsync<CliException>(() => JobCommands.RequirementsAsync(Console(), null, null, default));
        var missing = await Assert.ThrowsAsync<CliException>(() => JobCommands.RequirementsAsync(Console(), null, file + ".gone", default));
        Assert.All<CliException>([both, none, missing], e => Assert.Equal(ExitCodes.Usage, e.ExitCode));
    }

    private CliConsole Console(string? stdin = null, StringWriter? error = null) => new()
    {
        In = new StringReader(stdin ?? ""),
        InputRedirected = stdin is not null,
        Out = new StringWriter(),
        Error = error ?? new StringWriter(),
        ConfigDirectory = _config,
    };

    public void Dispose() => Directory.Delete(_config, recursive: true);
}
