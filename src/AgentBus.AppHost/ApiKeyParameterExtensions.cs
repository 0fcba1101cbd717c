namespace AgentBus.AppHost;

public static class ApiKeyParameterExtensions
{
    public const string Name = "api-key";

    /// <summary>
    /// The api's bootstrap admin key, a secret parameter. In run mode AGENTBUS_API_KEY from the
    /// environment of ./run.sh wins (scripts and demos know it in advance); otherwise Aspire
    /// generates one and keeps it in the AppHost's user secrets, so it survives restarts. Publishing
    /// never reads the environment: the manifest asks for a generated value, which
    /// scripts/make-dev-secrets.sh creates for a cluster.
    /// </summary>
    public static IResourceBuilder<ParameterResource> AddApiKeyParameter(this IDistributedApplicationBuilder builder)
    {
        if (builder.ExecutionContext.IsRunMode && builder.Configuration["AGENTBUS_API_KEY"] is { Length: > 0 } fromEnvironment)
        {
            // Configuration beats the persisted generated value, which would otherwise win.
            builder.Configuration[$"Parameters:{Name}"] = fromEnvironment;
        }
        return builder.AddParameter(Name, new GenerateParameterDefault { MinLength = 32, Special = false }, secret: true, persist: true);
    }
}
