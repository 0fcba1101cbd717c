namespace AgentBus.Testing;

/// <summary>
/// The checkout under test: the first directory above the test binaries that holds AgentBus.sln.
/// Linked into every test project from tests/Shared, so they all find it the same way.
/// </summary>
public static class Repository
{
    public static string Root { get; } = FindRoot();

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "AgentBus.sln")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException("AgentBus.sln not found above " + AppContext.BaseDirectory);
    }
}
