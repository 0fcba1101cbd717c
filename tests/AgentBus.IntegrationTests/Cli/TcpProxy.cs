using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace AgentBus.IntegrationTests.Cli;

/// <summary>
/// A loopback TCP proxy in front of a service: <see cref="Cut"/> resets every open connection, as
/// a dropped network would, while new ones are still accepted; <see cref="Sent"/> keeps what the
/// clients sent (plain HTTP: the request lines and headers).
/// </summary>
public sealed class TcpProxy : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly DnsEndPoint _target;
    private readonly ConcurrentDictionary<TcpClient, TcpClient> _open = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;
    private readonly StringBuilder _sent = new();

    public TcpProxy(Uri target)
    {
        _target = new DnsEndPoint(target.Host, target.Port);
        _listener.Start();
        Url = new Uri($"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}");
        _accepting = AcceptAsync();
    }

    public Uri Url { get; }

    public string Sent
    {
        get
        {
            lock (_sent)
            {
                return _sent.ToString();
            }
        }
    }

    /// <summary>Resets every open connection (RST, not a clean close); answers how many it cut.</summary>
    public int Cut()
    {
        var cut = 0;
        foreach (var (client, server) in _open)
        {
            if (_open.TryRemove(client, out _))
            {
                client.Client.LingerState = new LingerOption(true, 0);
                client.Dispose();
                server.Dispose();
                cut++;
            }
        }
        return cut;
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            var server = new TcpClient();
            try
            {
                await server.ConnectAsync(_target.Host, _target.Port, _stop.Token);
            }
            catch (Exception e) when (e is SocketException or OperationCanceledException)
            {
                client.Dispose();
                server.Dispose();
                continue;
            }
            _open[client] = server;
            _ = RelayAsync(client, server);
        }
    }

    /// <summary>Both directions until either side ends; then both are closed.</summary>
    private async Task RelayAsync(TcpClient client, TcpClient server)
    {
        await Task.WhenAny(PumpAsync(client.GetStream(), server.GetStream(), record: true), PumpAsync(server.GetStream(), client.GetStream(), record: false));
        if (_open.TryRemove(client, out _))
        {
            client.Dispose();
            server.Dispose();
        }
    }

    private async Task PumpAsync(NetworkStream from, NetworkStream to, bool record)
    {
        var buffer = new byte[16 * 1024];
        try
        {
            int read;
            while ((read = await from.ReadAsync(buffer, _stop.Token)) > 0)
            {
                if (record)
                {
                    lock (_sent)
                    {
                        _sent.Append(Encoding.ASCII.GetString(buffer, 0, read));
                    }
                }
                await to.WriteAsync(buffer.AsMemory(0, read), _stop.Token);
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or OperationCanceledException or SocketException)
        {
            // Cut, or the other side closed.
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        Cut();
        await _accepting;
        _stop.Dispose();
    }
}
