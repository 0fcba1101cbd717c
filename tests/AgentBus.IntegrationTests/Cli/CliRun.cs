using System.Text;
using AgentBus.Cli;

namespace AgentBus.IntegrationTests.Cli;

/// <summary>
/// agentbus run in process (CliApp.RunAsync, the tool's own entry) with its own config directory,
/// environment and captured stdout and stderr, which a test may read while the command runs.
/// </summary>
public sealed class CliRun : IDisposable
{
    private readonly Dictionary<string, string> _environment = [];

    public CliRun(Uri? apiUrl = null, string? apiKey = null)
    {
        ConfigDirectory = Directory.CreateTempSubdirectory("agentbus-cli-").FullName;
        if (apiUrl is not null)
        {
            _environment["AGENTBUS_API_URL"] = apiUrl.ToString();
        }
        if (apiKey is not null)
        {
            _environment["AGENTBUS_API_KEY"] = apiKey;
        }
    }

    public string ConfigDirectory { get; }

    /// <summary>Runs one command; <paramref name="stdin"/> is piped in when given.</summary>
    public async Task<Result> RunAsync(string[] args, string? stdin = null, Captured? output = null, CancellationToken ct = default)
    {
        output ??= new Captured();
        var error = new Captured();
        var console = new CliConsole
        {
            In = new StringReader(stdin ?? ""),
            InputRedirected = stdin is not null,
            Out = output,
            Error = error,
            ConfigDirectory = ConfigDirectory,
            Environment = _environment,
        };
        var code = await CliApp.RunAsync(args, console, ct);
        return new Result(code, output.Text, error.Text);
    }

    public void Dispose() => Directory.Delete(ConfigDirectory, recursive: true);

    public sealed record Result(int ExitCode, string Out, string Error)
    {
        public string[] Lines => Out.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        public override string ToString() => $"exit {ExitCode}\nstdout:\n{Out}\nstderr:\n{Error}";
    }

    /// <summary>A writer a test can read while the command still writes to it.</summary>
    public sealed class Captured : TextWriter
    {
        private readonly StringBuilder _text = new();

        public override Encoding Encoding => Encoding.UTF8;

        public string Text
        {
            get
            {
                lock (_text)
                {
                    return _text.ToString();
                }
            }
        }

        public override void Write(char value)
        {
            lock (_text)
            {
                _text.Append(value);
            }
        }

        public override void Write(string? value)
        {
            lock (_text)
            {
                _text.Append(value);
            }
        }
    }
}
