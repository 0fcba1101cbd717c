using AgentBus.Deploy;

// generate [--manifest aspire-manifest.json] [--out k8s]   rewrite the generated parts of k8s/
// secrets  [--manifest aspire-manifest.json] [--dir k8s/secrets]   create missing secret files
var command = args.FirstOrDefault();
string Option(string name, string fallback)
{
    var at = Array.IndexOf(args, name);
    return at >= 0 && at + 1 < args.Length ? args[at + 1] : fallback;
}

try
{
    var manifest = AspireManifest.Load(Option("--manifest", "aspire-manifest.json"));
    switch (command)
    {
        case "generate":
            var outDir = Option("--out", "k8s");
            K8sGenerator.WriteTo(manifest, outDir);
            Console.WriteLine($"wrote {string.Join(", ", K8sGenerator.OwnedFolders.Concat(K8sGenerator.OwnedFiles).Select(f => Path.Combine(outDir, f)))}");
            return 0;
        case "secrets":
            foreach (var line in DevSecrets.Write(manifest, Option("--dir", "k8s/secrets")))
                Console.WriteLine(line);
            return 0;
        default:
            Console.Error.WriteLine("usage: AgentBus.Deploy generate|secrets [--manifest FILE] [--out DIR | --dir DIR]");
            return 2;
    }
}
catch (InvalidDataException e)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return 1;
}
