using Spectre.Console;

namespace AgentBus.Cli;

/// <summary>
/// Where a run of agentbus reads and writes: the process's console and config directory, or a
/// test's own readers, writers and directory (so tests run it in process).
/// </summary>
public sealed class CliConsole
{
    public required TextReader In { get; init; }
    public required TextWriter Out { get; init; }
    public required TextWriter Error { get; init; }

    /// <summary>The config directory (config.json); see <see cref="CliConfig.DefaultDirectory"/>.</summary>
    public required string ConfigDirectory { get; init; }

    /// <summary>A person at a terminal: live progress and hidden prompts. Otherwise plain lines, and secrets come on stdin.</summary>
    public bool Interactive { get; init; }

    /// <summary>Environment variables (AGENTBUS_API_URL, AGENTBUS_API_KEY, AGENTBUS_TOKEN) that stand in for a login.</summary>
    public IReadOnlyDictionary<string, string> Environment { get; init; } = new Dictionary<string, string>();

    /// <summary>Whether stdin is a pipe or a file (requirements, a login's secret), not a terminal.</summary>
    public bool InputRedirected { get; init; }

    private IAnsiConsole? _ansi;

    /// <summary>Tables and live progress, on <see cref="Out"/>; plain (no colour, no cursor moves) unless interactive.</summary>
    public IAnsiConsole Ansi => _ansi ??= CreateAnsi();

    private IAnsiConsole CreateAnsi()
    {
        var ansi = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(Out),
            Ansi = Interactive ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = Interactive ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
            Interactive = Interactive ? InteractionSupport.Yes : InteractionSupport.No,
        });
        if (!Interactive)
        {
            ansi.Profile.Width = PipedWidth;   // a pipe has no width: 80 would cut the tables' cells
        }
        return ansi;
    }

    /// <summary>How wide tables may be when the output is not a terminal.</summary>
    public const int PipedWidth = 250;

    /// <summary>The process's own console.</summary>
    public static CliConsole System() => new()
    {
        In = Console.In,
        Out = Console.Out,
        Error = Console.Error,
        ConfigDirectory = CliConfig.DefaultDirectory(global::System.Environment.GetEnvironmentVariable),
        Interactive = !Console.IsInputRedirected && !Console.IsOutputRedirected,
        InputRedirected = Console.IsInputRedirected,
        Environment = global::System.Environment.GetEnvironmentVariables().Cast<System.Collections.DictionaryEntry>()
            .Where(e => e.Key is string name && name.StartsWith("AGENTBUS_", StringComparison.Ordinal))
            .ToDictionary(e => (string)e.Key, e => e.Value as string ?? ""),
    };
}
