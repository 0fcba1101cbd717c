using System.Security.Cryptography;

namespace AgentBus.Deploy;

/// <summary>Writes the k8s/secrets files for a development cluster: one file per secret
/// parameter, never overwriting one (Postgres keeps the password it was initialised with).</summary>
public static class DevSecrets
{
    private const string Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

    public static IEnumerable<string> Write(AspireManifest manifest, string dir)
    {
        Directory.CreateDirectory(dir);
        var lines = new List<string>();
        foreach (var name in manifest.Parameters.Where(manifest.IsSecretParameter))
        {
            var path = Path.Combine(dir, name);
            if (File.Exists(path)) { lines.Add($"kept      {path}"); continue; }
            var generate = manifest.InputValue(name)?["default"]?["generate"];
            // Letters and digits only, whatever the manifest allows: the values are embedded in
            // connection strings, where ';' ',' '=' or quotes would break parsing.
            var value = generate is null ? "" :
                RandomNumberGenerator.GetString(Alphabet, Math.Max((int?)generate["minLength"] ?? 0, 32));
            File.WriteAllText(path, value);
            if (!OperatingSystem.IsWindows())
                File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            lines.Add(generate is null
                ? $"EMPTY     {path}: no generated default in the manifest; put the real value there"
                : $"generated {path}");
        }
        return lines;
    }
}
