using System.Net;
using System.Runtime.Versioning;
using System.Text;
using AgentBus.Cli;
using AgentBus.Client;

namespace AgentBus.UnitTests.Cli;

/// <summary>What agentbus exits with, how it words an api's refusal, and how it keeps the login.</summary>
public sealed class CliOutcomeTests : IDisposable
{
    private readonly string _config = Path.Combine(Directory.CreateTempSubdirectory("agentbus-config-").FullName, "agentbus");

    [Theory]
    [InlineData("completed", ExitCodes.Ok)]
    [InlineData("failed", ExitCodes.JobFailed)]
    [InlineData("canceled", ExitCodes.JobStopped)]
    [InlineData("rejected", ExitCodes.JobStopped)]
    [InlineData("waiting_for_approval", ExitCodes.WaitingForApproval)]
    [InlineData("running", null)]
    [InlineData("queued", null)]
    public void A_job_status_maps_to_its_exit_code(string status, int? code) => Assert.Equal(code, ExitCodes.ForJob(status));

    [Fact]
    public void Exit_codes_are_distinct()
    {
        int[] codes = [ExitCodes.Ok, ExitCodes.JobFailed, ExitCodes.Usage, ExitCodes.JobStopped, ExitCodes.WaitingForApproval, ExitCodes.Auth, ExitCodes.Api, ExitCodes.Interrupted];
        Assert.Equal(codes.Length, codes.Distinct().Count());
    }

    [Theory]
    [InlineData(HttpStatusCode.Unauthorized, ExitCodes.Auth)]
    [InlineData(HttpStatusCode.Forbidden, ExitCodes.Auth)]
    [InlineData(HttpStatusCode.NotFound, ExitCodes.Api)]
    [InlineData(HttpStatusCode.Conflict, ExitCodes.Api)]
    [InlineData(HttpStatusCode.TooManyRequests, ExitCodes.Api)]
    [InlineData(HttpStatusCode.ServiceUnavailable, ExitCodes.Api)]
    public void A_refusal_maps_to_the_auth_or_the_api_code(HttpStatusCode status, int code) =>
        Assert.Equal(code, ExitCodes.ForProblem(new ApiProblem(status, "no", new Dictionary<string, string[]>(), null)));

    [Fact]
    public async Task A_problem_is_one_sentence_on_one_line_with_its_fields_and_trace_id()
    {
        // As the api writes a 400: title, per-field errors, the trace id the problem details service adds.
        using var response = new HttpResponseMessage(HttpStatusCode.BadRequest)
        {
            Content = new StringContent("""
                {"type":"https://tools.ietf.org/html/rfc9110#section-15.5.1","title":"The request is not valid","status":400,
                 "errors":{"requirements":["is required and must not be blank"],"budget_usd":["must be between 0\nand 1000000"]},
                 "traceId":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}
                """, Encoding.UTF8, "application/problem+json"),
        };
        var problem = await ApiProblem.ReadAsync(response, default);
        Assert.Equal(
            "The request is not valid: budget_usd must be between 0 and 1000000; requirements is required and must not be blank "
            + "(trace 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01).",
            ProblemText.Sentence(problem));

        var bare = new ApiProblem(HttpStatusCode.Conflict, "Cannot approve a job that is completed.", new Dictionary<string, string[]>(), null);
        Assert.Equal("Cannot approve a job that is completed.", ProblemText.Sentence(bare));
        var thrown = Assert.Throws<CliException>(() => new ApiResult<Job>(null, bare).Require());
        Assert.Equal((ExitCodes.Api, "Cannot approve a job that is completed."), (thrown.ExitCode, thrown.Message));
    }

    [Fact]
    [UnsupportedOSPlatform("windows")]
    public void The_login_is_readable_by_its_owner_only_even_over_a_wider_file()
    {
        Directory.CreateDirectory(_config);
        var path = CliConfig.PathIn(_config);
        File.WriteAllText(path, "{}");
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);

        var saved = new CliConfig("http://localhost:8000", "abk_secret_value", null).Save(_config);

        Assert.Equal(path, saved);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        Assert.Equal(new CliConfig("http://localhost:8000", "abk_secret_value", null), CliConfig.Load(_config));
        Assert.DoesNotContain("abk_secret_value", new CliConfig("http://localhost:8000", "abk_secret_value", null).ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("abk_secret_value", new StaticCredential("abk_secret_value", false).ToString(), StringComparison.Ordinal);
    }

    [Fact]
    [UnsupportedOSPlatform("windows")]
    public void A_new_config_directory_is_its_owner_s_alone()
    {
        new CliConfig("http://localhost:8000", null, "a.jwt.token").Save(_config);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(_config));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(CliConfig.PathIn(_config)));
    }

    public void Dispose() => Directory.Delete(Path.GetDirectoryName(_config)!, recursive: true);
}
