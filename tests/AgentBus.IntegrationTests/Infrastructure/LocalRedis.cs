using System.Diagnostics;
using System.Globalization;
using StackExchange.Redis;

namespace AgentBus.IntegrationTests.Infrastructure;

/// <summary>
/// A redis-server of the test's own (Debian's binary, loopback, no persistence), on a port chosen
/// up front so clients can connect before it starts (they wait for it, as the services do).
/// </summary>
public sealed class LocalRedis : IAsyncDisposable
{
    private Process? _process;

    public int Port { get; } = LocalServer.FreePort();

    /// <summary>A client that does not give up when the server is not there (yet), with short timeouts.</summary>
    public Task<ConnectionMultiplexer> ConnectAsync() => ConnectionMultiplexer.ConnectAsync(new ConfigurationOptions
    {
        EndPoints = { { "127.0.0.1", Port } },
        AbortOnConnectFail = false,
        ConnectTimeout = 1_000,
        AsyncTimeout = 1_000,
        SyncTimeout = 1_000,
    });

    public async Task StartAsync()
    {
        _process = Process.Start(new ProcessStartInfo("redis-server",
            ["--port", Port.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        {
            RedirectStandardOutput = true,
        }) ?? throw new InvalidOperationException("redis-server did not start (apt-get install redis-server)");
        _process.BeginOutputReadLine();
        await AgentBusAppFixture.EventuallyAsync(async () =>
        {
            await using var probe = await ConnectAsync();
            return probe.IsConnected;
        }, up => up, TimeSpan.FromSeconds(15), $"redis-server answering on {Port}");
    }

    public async ValueTask DisposeAsync()
    {
        if (_process is not null)
        {
            await LocalServer.StopAsync(_process, TimeSpan.FromSeconds(10));
            _process.Dispose();
        }
    }
}
