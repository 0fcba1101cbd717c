using System.Text.Json;

namespace AgentBus.Cli;

/// <summary>
/// What `agentbus login` stores: the api's URL and one credential, an API key or a bearer token.
/// The file is the user's alone (0600, in a 0700 directory) and written whole or not at all.
/// </summary>
public sealed record CliConfig(string ApiUrl, string? ApiKey, string? Token)
{
    public const string FileName = "config.json";
    public const UnixFileMode FilePermissions = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    public const UnixFileMode DirectoryPermissions = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    private static readonly JsonSerializerOptions Json = new(Client.AgentBusApi.Json) { WriteIndented = true };

    /// <summary>$AGENTBUS_CONFIG_DIR, else $XDG_CONFIG_HOME/agentbus, else ~/.config/agentbus (%APPDATA%\agentbus on Windows).</summary>
    public static string DefaultDirectory(Func<string, string?> environment) =>
        environment("AGENTBUS_CONFIG_DIR") is { Length: > 0 } explicitDirectory ? explicitDirectory
        : environment("XDG_CONFIG_HOME") is { Length: > 0 } xdg ? Path.Combine(xdg, "agentbus")
        : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.ApplicationData, Environment.SpecialFolderOption.DoNotVerify), "agentbus");

    public static string PathIn(string directory) => Path.Combine(directory, FileName);

    public static CliConfig? Load(string directory)
    {
        var path = PathIn(directory);
        if (!File.Exists(path))
        {
            return null;
        }
        try
        {
            return JsonSerializer.Deserialize<CliConfig>(File.ReadAllText(path), Json);
        }
        catch (JsonException e)
        {
            throw new CliException(ExitCodes.Auth, $"The config file {path} is not readable ({e.Message}): run agentbus login again.");
        }
    }

    /// <summary>Writes the file readable by its owner only: created 0600 (never briefly wider), then moved over the old one.</summary>
    public string Save(string directory)
    {
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(directory);   // the profile's ACL already keeps it the user's
        }
        else
        {
            Directory.CreateDirectory(directory, DirectoryPermissions);
        }
        var path = PathIn(directory);
        var temporary = path + ".tmp";
        File.Delete(temporary);
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = FilePermissions;
        }
        using (var stream = new FileStream(temporary, options))
        {
            JsonSerializer.Serialize(stream, this, Json);
        }
        File.Move(temporary, path, overwrite: true);
        return path;
    }

    /// <summary>Never the secrets: a record prints every field.</summary>
    public override string ToString() => $"{ApiUrl} ({(Token is null ? "API key" : "bearer token")})";
}
