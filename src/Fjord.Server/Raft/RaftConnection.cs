using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Threading.Channels;
using Fjord.Protocol.Framing;

namespace Fjord.Server.Raft;

/// <summary>
/// One TCP connection of the Raft transport (inbound from a peer, or outbound to one): a read loop
/// that hands each Kafka frame (size prefix stripped) to <c>onFrame</c>, and a write loop draining an
/// unbounded queue of encoded frames so that the node thread never blocks on a socket. Any failure
/// (socket error, oversized or malformed frame, <c>onFrame</c> throwing) closes the connection and
/// logs one line; nothing a peer sends can escape as an exception.
/// </summary>
internal sealed class RaftConnection
{
    /// <summary>Largest frame accepted (socket.request.max.bytes default: 100 MiB).</summary>
    public const int MaxFrameBytes = 100 * 1024 * 1024;

    private readonly Channel<byte[]> _out = Channel.CreateUnbounded<byte[]>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Func<CancellationToken, ValueTask<TcpClient>> _open;
    private readonly Func<RaftConnection, byte[], ValueTask> _onFrame;
    private readonly Action<string> _log;
    private readonly CancellationToken _stop;
    private TcpClient? _client;
    private volatile bool _closed;

    private RaftConnection(string name, Func<CancellationToken, ValueTask<TcpClient>> open,
        Func<RaftConnection, byte[], ValueTask> onFrame, Action<string> log, CancellationToken stop)
    {
        Name = name;
        _open = open;
        _onFrame = onFrame;
        _log = log;
        _stop = stop;
    }

    public string Name { get; }

    public bool IsClosed => _closed;

    /// <summary>For outbound connections: api key and version of each request awaiting its response.</summary>
    public ConcurrentDictionary<int, (short ApiKey, short ApiVersion)> InFlight { get; } = new();

    /// <summary>Starts a connection over an accepted (or to-be-opened) socket; returns at once.</summary>
    public static RaftConnection Start(string name, Func<CancellationToken, ValueTask<TcpClient>> open,
        Func<RaftConnection, byte[], ValueTask> onFrame, Action<string> log, CancellationToken stop)
    {
        var connection = new RaftConnection(name, open, onFrame, log, stop);
        _ = Task.Run(connection.RunAsync);
        return connection;
    }

    /// <summary>Queues an encoded frame (with its size prefix); dropped when the connection is closed.</summary>
    public bool Send(byte[] frame) => !_closed && _out.Writer.TryWrite(frame);

    public void Close()
    {
        _closed = true;
        _out.Writer.TryComplete();
        try { _client?.Dispose(); } catch { /* closing anyway */ }
    }

    private async Task RunAsync()
    {
        try
        {
            var client = await _open(_stop).ConfigureAwait(false);
            client.NoDelay = true;
            _client = client;
            if (_closed) { client.Dispose(); return; }
            var stream = client.GetStream();
            var reading = ReadLoopAsync(stream);
            var writing = WriteLoopAsync(stream);
            var first = await Task.WhenAny(reading, writing).ConfigureAwait(false);
            await first.ConfigureAwait(false); // surfaces the failure, if any
        }
        catch (Exception e) when (!_stop.IsCancellationRequested && !_closed)
        {
            _log($"raft connection {Name}: closed after {e.GetType().Name}: {e.Message}");
        }
        catch
        {
            // Stopping: the failure is the shutdown itself.
        }
        finally
        {
            Close();
        }
    }

    private async Task ReadLoopAsync(NetworkStream stream)
    {
        var prefix = new byte[Frames.SizePrefixBytes];
        while (true)
        {
            int got = await stream.ReadAtLeastAsync(prefix, prefix.Length, throwOnEndOfStream: false, _stop).ConfigureAwait(false);
            if (got == 0) return; // orderly close by the peer
            if (got < prefix.Length) throw new EndOfStreamException("connection closed inside a size prefix");
            int size = Frames.ReadSize(prefix, MaxFrameBytes);
            var frame = new byte[size];
            await stream.ReadExactlyAsync(frame, _stop).ConfigureAwait(false);
            await _onFrame(this, frame).ConfigureAwait(false);
        }
    }

    private async Task WriteLoopAsync(NetworkStream stream)
    {
        await foreach (var frame in _out.Reader.ReadAllAsync(_stop).ConfigureAwait(false))
            await stream.WriteAsync(frame, _stop).ConfigureAwait(false);
        // Completed by Close(): end the connection.
        throw new OperationCanceledException("connection closed");
    }
}
