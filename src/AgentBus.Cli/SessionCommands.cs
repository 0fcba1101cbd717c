using System.CommandLine;
using AgentBus.Client;
using Spectre.Console;

namespace AgentBus.Cli;

/// <summary>login and logout: the api's URL and a credential kept in the user's config directory.</summary>
public static class SessionCommands
{
    public const string DefaultUrl = "http://localhost:8000";

    public static IEnumerable<Command> Create(CliConsole console)
    {
        var url = new Option<string>("--url") { Description = "The api's URL.", DefaultValueFactory = _ => DefaultUrl };
        var token = new Option<bool>("--token") { Description = "The secret is a bearer token (JWT), not an API key." };
        var login = new Command("login", "Store the api's URL and your API key (or token), checked with the api first. "
            + "The secret is read from stdin when it is piped, else asked for without echo; never give it as an argument.")
        { url, token };
        login.SetAction((parse, ct) => LoginAsync(console, parse.GetValue(url)!, parse.GetValue(token), ct));
        yield return login;

        var logout = new Command("logout", "Delete the stored login.");
        logout.SetAction(parse =>
        {
            var path = CliConfig.PathIn(console.ConfigDirectory);
            File.Delete(path);
            console.Out.WriteLine($"Logged out ({path} deleted).");
            return ExitCodes.Ok;
        });
        yield return logout;
    }

    private static async Task<int> LoginAsync(CliConsole console, string url, bool isToken, CancellationToken ct)
    {
        var apiUrl = CliSession.ParseUrl(url);
        var what = isToken ? "Bearer token" : "API key";
        var secret = console.Interactive
            ? await new TextPrompt<string>($"{what}:").Secret().ShowAsync(console.Ansi, ct)
            : await console.In.ReadLineAsync(ct);
        secret = secret?.Trim();
        if (string.IsNullOrEmpty(secret))
        {
            throw new CliException(ExitCodes.Usage, $"No {what.ToLowerInvariant()} given: pipe it on stdin (agentbus login < key-file) or run login in a terminal.");
        }
        var credential = new StaticCredential(secret, isToken);
        using var session = new CliSession(apiUrl, credential);
        var me = (await session.Api.WhoAmIAsync(ct)).Require();
        var path = new CliConfig(apiUrl.ToString().TrimEnd('/'), isToken ? null : secret, isToken ? secret : null).Save(console.ConfigDirectory);
        console.Out.WriteLine($"Logged in to {apiUrl} as {me.Caller} ({me.Role}); saved in {path}, readable by you only.");
        return ExitCodes.Ok;
    }
}
