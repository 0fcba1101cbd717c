using System.Globalization;
using System.Threading.RateLimiting;
using AgentBus.Telemetry;

namespace AgentBus.Api.Security;

public static class RateLimits
{
    /// <summary>
    /// Every request but probes and scrapes takes a token: from its caller's bucket when it
    /// authenticated (API key id or JWT subject), else from its client address's bucket, so that
    /// guessing keys is as limited as anything else anonymous.
    /// </summary>
    public static IServiceCollection AddAgentBusRateLimits(this IServiceCollection services, IConfiguration configuration)
    {
        var limits = configuration.GetSection(RateLimitOptions.Section).Get<RateLimitOptions>() ?? new();
        if (!limits.PerKey.Valid || !limits.PerAddress.Valid || !limits.KeyLookups.Valid)
        {
            throw new InvalidOperationException($"{RateLimitOptions.Section}: PermitsPerSecond and Burst must be 1 or more.");
        }
        // ApiKeyStore reads KeyLookups.
        services.AddOptions<RateLimitOptions>().BindConfiguration(RateLimitOptions.Section);
        return services.AddRateLimiter(o =>
        {
            o.GlobalLimiter = PartitionedRateLimiter.Create<HttpContext, string>(context =>
            {
                if (IsExempt(context.Request.Path))
                {
                    return RateLimitPartition.GetNoLimiter("");
                }
                return Roles.Caller(context.User) is { } caller
                    ? RateLimitPartition.GetTokenBucketLimiter(caller, _ => Options(limits.PerKey))
                    : RateLimitPartition.GetTokenBucketLimiter("addr:" + context.Connection.RemoteIpAddress, _ => Options(limits.PerAddress));
            });
            o.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            o.OnRejected = async (rejected, ct) =>
            {
                var context = rejected.HttpContext;
                var seconds = rejected.Lease.TryGetMetadata(MetadataName.RetryAfter, out var after) ? Math.Max(1, (int)Math.Ceiling(after.TotalSeconds)) : 1;
                var reason = Roles.Caller(context.User) is null ? "address" : "key";
                await RefuseAsync(context, reason, seconds,
                    $"The rate limit per {(reason == "key" ? "API key or token subject" : "client address")} is exceeded; retry after {seconds} s.");
            };
        });
    }

    /// <summary>A 429 as every limit answers it: counted by reason, Retry-After in seconds, a problem saying which limit.</summary>
    public static async Task RefuseAsync(HttpContext context, string reason, int seconds, string detail)
    {
        context.RequestServices.GetRequiredService<AgentBusMetrics>().RateLimited.Add(1, new KeyValuePair<string, object?>("reason", reason));
        context.Response.StatusCode = StatusCodes.Status429TooManyRequests;
        context.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
        await context.RequestServices.GetRequiredService<IProblemDetailsService>().WriteAsync(new ProblemDetailsContext
        {
            HttpContext = context,
            ProblemDetails = { Status = StatusCodes.Status429TooManyRequests, Title = "Too many requests", Detail = detail },
        });
    }

    private static bool IsExempt(PathString path) =>
        path.StartsWithSegments("/health") || path.StartsWithSegments(Extensions.MetricsPath);

    private static TokenBucketRateLimiterOptions Options(RateLimitOptions.Bucket bucket) => new()
    {
        TokenLimit = bucket.Burst,
        TokensPerPeriod = bucket.PermitsPerSecond,
        ReplenishmentPeriod = TimeSpan.FromSeconds(1),
        QueueLimit = 0,
        AutoReplenishment = true,
    };
}
