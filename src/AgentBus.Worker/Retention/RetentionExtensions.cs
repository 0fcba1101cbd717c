namespace AgentBus.Worker.Retention;

public static class RetentionExtensions
{
    /// <summary>Deletes old job events, superseded artifact versions, old dead letters and ended webhook deliveries (one process at a time).</summary>
    public static IHostApplicationBuilder AddRetentionSweeper(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<RetentionOptions>().BindConfiguration(RetentionOptions.Section)
            .Validate(o => o.IsValid, $"AgentBus:Retention needs every MaxAge >= {RetentionOptions.MinimumAge}, Interval >= 1 s and BatchSize 1 to 100000.")
            .ValidateOnStart();
        builder.Services.AddHostedService<RetentionSweeper>();
        return builder;
    }
}
