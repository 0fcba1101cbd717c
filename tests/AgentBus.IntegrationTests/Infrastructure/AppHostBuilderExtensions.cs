namespace AgentBus.IntegrationTests.Infrastructure;

/// <summary>What fixtures look up on the AppHost they configure before it starts.</summary>
public static class AppHostBuilderExtensions
{
    /// <summary>The AppHost's project named <paramref name="name"/> ("api", "worker", "gpu-agent"), to add settings to.</summary>
    public static IResourceBuilder<ProjectResource> Project(this IDistributedApplicationTestingBuilder builder, string name)
    {
        var projects = builder.Resources.OfType<ProjectResource>().ToList();
        return builder.CreateResourceBuilder(projects.SingleOrDefault(p => p.Name == name)
            ?? throw new InvalidOperationException($"the AppHost has no project named {name}, only {string.Join(", ", projects.Select(p => p.Name))}"));
    }
}
