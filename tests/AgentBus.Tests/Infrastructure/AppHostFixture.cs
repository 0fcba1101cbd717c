using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AgentBus.Tests.Infrastructure;

/// <summary>
/// One Agent Bus AppHost (local Postgres and Redis) shared by the tests of the "AppHost" collection.
/// Tests in that collection run one at a time, so a test may stop a dependency as long as it
/// brings it back before it ends.
/// </summary>
public sealed class AppHostFixture : IAsyncLifetime
{
    public static readonly string[] Services = ["api", "worker", "gpu-agent"];
    public static readonly TimeSpan StartTimeout = TimeSpan.FromMinutes(3);

    private DistributedApplication? _app;

    public DistributedApplication App => _app ?? throw new InvalidOperationException("The AppHost has not started.");

    public async ValueTask InitializeAsync()
    {
        using var cts = new CancellationTokenSource(StartTimeout);
        var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.AgentBus_AppHost>(
            ["--infra", "local"], (options, _) => options.DisableDashboard = true, cts.Token);
        builder.Services.AddLogging(logging => logging.SetMinimumLevel(LogLevel.Warning));
        foreach (var project in builder.Resources.OfType<ProjectResource>())
        {
            // Nothing listens on the OTLP endpoint the testing builder sets: flushing to it on
            // shutdown would cost seconds per run.
            builder.CreateResourceBuilder(project).WithEnvironment(e => e.EnvironmentVariables.Remove("OTEL_EXPORTER_OTLP_ENDPOINT"));
        }

        _app = await builder.BuildAsync(cts.Token);
        await _app.StartAsync(cts.Token);
        foreach (var resource in new[] { "postgres", "redis" }.Concat(Services))
        {
            await _app.ResourceNotifications.WaitForResourceHealthyAsync(resource, cts.Token);
        }
    }

    public HttpClient CreateClient(string service) => App.CreateHttpClient(service, "http");

    public async ValueTask DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.DisposeAsync();
        }
    }

    /// <summary>Polls until <paramref name="condition"/> holds, failing with the last observation.</summary>
    public static async Task<T> EventuallyAsync<T>(Func<Task<T>> observe, Func<T, bool> condition, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        T last;
        while (true)
        {
            last = await observe();
            if (condition(last))
            {
                return last;
            }
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"{what} did not happen within {timeout.TotalSeconds} s; last observation: {last}");
            }
            await Task.Delay(250);
        }
    }
}

[CollectionDefinition(Name)]
public sealed class AppHostCollection : ICollectionFixture<AppHostFixture>
{
    public const string Name = "AppHost";
}
