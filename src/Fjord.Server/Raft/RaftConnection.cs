using System.Collections.Concurrent;
using System.Net.Sockets;
using Fjord.Protocol.Framing;

namespace Fjord.Server.Raft;

/// <summary>
/// One TCP connection of the Raft transport (inbound from a peer, or outbound to one): a read loop
/// that hands each Kafka frame (size prefix stripped) to <c>onFrame</c>, and writes that never block
/// the node thread. A frame sent while the socket is idle is written at once from the caller's
/// thread (an async write, which on an idle socket completes inline: one send call, no hop to
/// another thread — that hop was part of every commit's latency); while a write is still in
/// progress (a full socket buffer), frames queue behind it, unbounded, and its completion writes
/// them in order. Any failure (socket error, oversized or malformed frame, <c>onFrame</c> throwing)
/// closes the connection and logs one line; nothing a peer sends can escape as an exception.
/// </summary>
internal sealed class RaftConnection
{
    /// <summary>Largest frame accepted (socket.request.max.bytes default: 100 MiB).</summary>
    public const int MaxFrameBytes = 100 * 1024 * 1024;

    private readonly Lock _writeLock = new();
    private readonly Queue<byte[]> _queue = new(); // under _writeLock: frames behind the write in progress, or before the connection is up
    private NetworkStream? _stream;                // under _writeLock: set once connected
    private bool _writing;                         // under _writeLock: a write is in progress; it takes the next queued frame when done
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

    /// <summary>Sends an encoded frame (with its size prefix): written now when the socket is idle,
    /// else queued behind the write in progress. Never blocks. False (dropped) when the connection is closed.</summary>
    public bool Send(byte[] frame)
    {
        NetworkStream stream;
        lock (_writeLock)
        {
            if (_closed) return false;
            if (_stream is null || _writing)
            {
                _queue.Enqueue(frame);
                return true;
            }
            stream = _stream;
            _writing = true;
        }
        WriteFrom(stream, frame);
        return true;
    }

    public void Close()
    {
        _closed = true;
        lock (_writeLock) _queue.Clear();
        try { _client?.Dispose(); } catch { /* closing anyway */ }
    }

    /// <summary>Writes <paramref name="frame"/>, then the queued frames, as long as each write
    /// completes inline; the first that does not continues on its completion.</summary>
    private void WriteFrom(NetworkStream stream, byte[] frame)
    {
        while (true)
        {
            ValueTask write;
            try { write = stream.WriteAsync(frame, _stop); }
            catch (Exception e) { Fail(e); return; }
            if (!write.IsCompleted)
            {
                _ = CompleteWriteAsync(stream, write);
                return;
            }
            try { write.GetAwaiter().GetResult(); }
            catch (Exception e) { Fail(e); return; }
            if (!TryTakeNext(out frame)) return;
        }
    }

    private async Task CompleteWriteAsync(NetworkStream stream, ValueTask write)
    {
        try { await write.ConfigureAwait(false); }
        catch (Exception e) { Fail(e); return; }
        if (TryTakeNext(out var next)) WriteFrom(stream, next);
    }

    /// <summary>The next queued frame for the write in progress, or false: then no write is in progress.</summary>
    private bool TryTakeNext(out byte[] frame)
    {
        lock (_writeLock)
        {
            if (!_closed && _queue.TryDequeue(out var next))
            {
                frame = next;
                return true;
            }
            _writing = false;
            frame = [];
            return false;
        }
    }

    private void Fail(Exception e)
    {
        if (!_stop.IsCancellationRequested && !_closed) _log($"raft connection {Name}: closed after {e.GetType().Name}: {e.Message}");
        Close();
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
            byte[]? queued = null;
            lock (_writeLock)
            {
                _stream = stream;
                if (_queue.TryDequeue(out queued)) _writing = true; // frames sent before the connection was up
            }
            if (queued is not null) WriteFrom(stream, queued);
            await ReadLoopAsync(stream).ConfigureAwait(false); // ends (or throws) when the peer or Close ends the connection
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
}
