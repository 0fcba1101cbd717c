using AgentBus.Client;
using Microsoft.Extensions.Logging.Abstractions;

namespace AgentBus.Cli;

/// <summary>
/// One run's connection to the api: the login (or the AGENTBUS_* variables that stand in for it),
/// the typed client and the event streams over one connection pool.
/// </summary>
public sealed class CliSession : IDisposable
{
    private readonly SocketsHttpHandler _handler = new() { PooledConnectionLifetime = TimeSpan.FromMinutes(5) };
    private readonly HttpClient _calls;
    private readonly HttpClient _streams;

    public CliSession(Uri apiUrl, IApiCredential credential)
    {
        ApiUrl = apiUrl;
        _calls = new HttpClient(_handler, disposeHandler: false) { BaseAddress = apiUrl, Timeout = TimeSpan.FromSeconds(100) };
        // An event stream lasts as long as its job: no timeout.
        _streams = new HttpClient(_handler, disposeHandler: false) { BaseAddress = apiUrl, Timeout = Timeout.InfiniteTimeSpan };
        Api = new AgentBusApi(_calls, credential);
        Events = new JobEventsClient(_streams, credential, NullLogger<JobEventsClient>.Instance);
    }

    public Uri ApiUrl { get; }
    public AgentBusApi Api { get; }
    public JobEventsClient Events { get; }

    /// <summary>The session of the environment's credential (AGENTBUS_API_KEY or AGENTBUS_TOKEN) or else of the stored login.</summary>
    public static CliSession Open(CliConsole console)
    {
        var env = console.Environment;
        var stored = CliConfig.Load(console.ConfigDirectory);
        var fromEnvironment = env.GetValueOrDefault("AGENTBUS_API_KEY") is { Length: > 0 } || env.GetValueOrDefault("AGENTBUS_TOKEN") is { Length: > 0 };
        // ./run.sh's AGENTBUS_API_KEY alone is enough on the machine that runs it.
        var url = env.GetValueOrDefault("AGENTBUS_API_URL") is { Length: > 0 } u ? u : stored?.ApiUrl ?? (fromEnvironment ? SessionCommands.DefaultUrl : null);
        IApiCredential? credential =
            env.GetValueOrDefault("AGENTBUS_API_KEY") is { Length: > 0 } key ? new StaticCredential(key, IsBearerToken: false)
            : env.GetValueOrDefault("AGENTBUS_TOKEN") is { Length: > 0 } token ? new StaticCredential(token, IsBearerToken: true)
            : stored?.Token is { Length: > 0 } storedToken ? new StaticCredential(storedToken, IsBearerToken: true)
            : stored?.ApiKey is { Length: > 0 } storedKey ? new StaticCredential(storedKey, IsBearerToken: false)
            : null;
        if (credential is null || url is null)
        {
            throw new CliException(ExitCodes.Auth, "Not logged in: run agentbus login (or set AGENTBUS_API_URL and AGENTBUS_API_KEY).");
        }
        return new CliSession(ParseUrl(url), credential);
    }

    /// <summary>An absolute http(s) URL, or a usage error.</summary>
    public static Uri ParseUrl(string url) =>
        Uri.TryCreate(url, UriKind.Absolute, out var parsed) && parsed.Scheme is "http" or "https"
            ? parsed
            : throw new CliException(ExitCodes.Usage, $"The api URL '{url}' is not an absolute http or https URL.");

    public void Dispose()
    {
        _calls.Dispose();
        _streams.Dispose();
        _handler.Dispose();
    }
}
