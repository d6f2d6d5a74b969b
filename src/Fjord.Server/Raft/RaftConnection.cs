using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Fjord.Protocol.Framing;

namespace Fjord.Server.Raft;

/// <summary>
/// One TCP connection of the Raft transport (inbound from a peer, or outbound to one), on a thread
/// of its own that opens the socket, then reads it and hands each Kafka frame (size prefix
/// stripped) to <c>onFrame</c> — on that thread, which may run the Raft node there (see
/// <see cref="RaftNetworkDriver"/>). Writes never block the caller.
/// </summary>
/// <remarks>
/// Latency is why the socket is driven by hand rather than through .NET's async socket calls: an
/// async read completes on the socket engine's epoll thread, which hands it to the thread pool, which
/// hands the frame to the node — on a small or virtualised machine each of those wake-ups costs tens
/// of microseconds, several per commit. Here the socket is non-blocking and never used asynchronously
/// (so it is never registered with the engine): the connection thread reads what is there and
/// otherwise waits in <c>poll</c> on this one socket, so the kernel wakes exactly this thread when
/// bytes arrive. A frame sent while nothing is queued is written at once from the caller's thread
/// (one non-blocking send); what the socket buffer cannot take stays queued, in order, and a writer
/// thread of the connection (started the first time it is needed) waits for the socket to drain and
/// writes it. Any failure (socket error, oversized or malformed frame, <c>onFrame</c> throwing)
/// closes the connection and logs one line; nothing a peer sends can escape as an exception.
/// Answer order (inbound connections): a request whose answer must keep its place takes one with
/// <see cref="ReserveAnswer"/> when it is read and fills it with <see cref="CompleteAnswer"/>
/// whenever the answer is ready (a controller write answers only at commit); answers leave in the
/// order the places were taken, at most <see cref="MaxPendingAnswers"/> owed at once.
/// </remarks>
internal sealed class RaftConnection
{
    /// <summary>Largest frame accepted (socket.request.max.bytes default: 100 MiB).</summary>
    public const int MaxFrameBytes = 100 * 1024 * 1024;

    /// <summary>How long a wait in poll lasts before the thread looks whether the connection was closed.</summary>
    private const int PollMicros = 200_000;
    private const int ReadBufferBytes = 64 * 1024;

    private readonly Lock _writeLock = new();
    private readonly Queue<byte[]> _queue = new(); // under _writeLock: frames not yet (wholly) written, oldest first
    private int _headWritten;                      // under _writeLock: bytes of _queue.Peek() already written
    private Socket? _socket;                       // under _writeLock: set once connected
    private bool _writerOwns;                      // under _writeLock: the writer thread is draining the queue
    private Thread? _writer;                       // under _writeLock: started on first need
    private readonly SemaphoreSlim _writerWake = new(0);
    private readonly Func<RaftConnection, Socket> _open;
    private readonly Action<RaftConnection, byte[]> _onFrame;
    private readonly Action<string> _log;
    private readonly CancellationToken _stop;
    private volatile bool _closed;

    private RaftConnection(string name, Func<RaftConnection, Socket> open, Action<RaftConnection, byte[]> onFrame,
        Action<string> log, CancellationToken stop)
    {
        Name = name;
        _open = open;
        _onFrame = onFrame;
        _log = log;
        _stop = stop;
    }

    public string Name { get; }

    /// <summary>Closed (by either side or by a failure), or the driver is stopping.</summary>
    public bool IsClosed => _closed || _stop.IsCancellationRequested;

    /// <summary>Most answers an inbound connection may owe at once (<see cref="ReserveAnswer"/> waits beyond it, which holds back reading).</summary>
    public const int MaxPendingAnswers = 1024;

    // Inbound connections: the answers owed, in request order (under _answerLock). An answer that is
    // ready goes out only once every answer reserved before it has gone out (or was dropped).
    private readonly Lock _answerLock = new();
    private readonly Queue<PendingAnswer> _answers = new();
    private readonly SemaphoreSlim _answerCredits = new(MaxPendingAnswers, MaxPendingAnswers);

    /// <summary>A place in an inbound connection's answer order (see <see cref="ReserveAnswer"/>).</summary>
    public sealed class PendingAnswer
    {
        internal bool Completed;
        internal byte[]? Frame;
    }

    /// <summary>
    /// Inbound connections, on the connection's thread as each request is read: takes the next place
    /// in the answer order. Every place must later be completed (<see cref="CompleteAnswer"/>), with
    /// an answer or without one. Waits while <see cref="MaxPendingAnswers"/> answers are owed (no
    /// more requests are read meanwhile); throws <see cref="OperationCanceledException"/> when the
    /// connection closes during that wait.
    /// </summary>
    public PendingAnswer ReserveAnswer()
    {
        while (!_answerCredits.Wait(PollMicros / 1000))
            if (IsClosed) throw new OperationCanceledException($"connection {Name} closed");
        var answer = new PendingAnswer();
        lock (_answerLock) _answers.Enqueue(answer);
        return answer;
    }

    /// <summary>
    /// Completes a place taken by <see cref="ReserveAnswer"/> with its encoded answer (size prefix
    /// included), or with null when it gets none (the request is dropped). Then sends, in order,
    /// every completed answer at the head of the queue: an answer completed early waits for those
    /// before it. Any thread; never blocks.
    /// </summary>
    public void CompleteAnswer(PendingAnswer answer, byte[]? frame)
    {
        ArgumentNullException.ThrowIfNull(answer);
        lock (_answerLock)
        {
            if (answer.Completed) throw new InvalidOperationException("an answer is completed only once");
            answer.Frame = frame;
            answer.Completed = true;
            while (_answers.TryPeek(out var head) && head.Completed)
            {
                _answers.Dequeue();
                _answerCredits.Release();
                if (head.Frame is { } ready) Send(ready); // under _answerLock: sends leave in queue order
            }
        }
    }

    /// <summary>For outbound connections: api key and version of each request awaiting its response.</summary>
    public ConcurrentDictionary<int, (short ApiKey, short ApiVersion)> InFlight { get; } = new();

    /// <summary>Starts a connection over an accepted (or to-be-opened) socket; returns at once. <paramref name="open"/>
    /// runs on the connection's thread and returns the connected socket (see <see cref="Connect"/>).</summary>
    public static RaftConnection Start(string name, Func<RaftConnection, Socket> open, Action<RaftConnection, byte[]> onFrame,
        Action<string> log, CancellationToken stop)
    {
        var connection = new RaftConnection(name, open, onFrame, log, stop);
        new Thread(connection.Run) { IsBackground = true, Name = $"raft-conn {name}" }.Start();
        return connection;
    }

    /// <summary>
    /// Connects to <paramref name="host"/>:<paramref name="port"/> (each of its addresses in turn)
    /// without blocking for longer than <see cref="PollMicros"/> at a time, so that closing the
    /// connection or stopping ends the attempt.
    /// </summary>
    public Socket Connect(string host, int port)
    {
        var addresses = IPAddress.TryParse(host, out var ip) ? [ip] : Dns.GetHostAddresses(host);
        SocketException? last = null;
        foreach (var address in addresses)
        {
            var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { Blocking = false };
            try
            {
                try { socket.Connect(address, port); }
                catch (SocketException e) when (e.SocketErrorCode is SocketError.WouldBlock or SocketError.InProgress)
                {
                    while (!socket.Poll(PollMicros, SelectMode.SelectWrite))
                        if (IsClosed) throw new OperationCanceledException($"connection {Name} closed while connecting");
                    if (socket.GetSocketOption(SocketOptionLevel.Socket, SocketOptionName.Error) is int error and not 0)
                        throw new SocketException(error);
                }
                return socket;
            }
            catch (SocketException e)
            {
                socket.Dispose();
                last = e;
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }
        throw last ?? new SocketException((int)SocketError.HostNotFound);
    }

    /// <summary>Sends an encoded frame (with its size prefix): written now as far as the socket takes
    /// it, the rest queued for the writer thread. Never blocks. False (dropped) when the connection is closed.</summary>
    public bool Send(byte[] frame)
    {
        Exception? failure;
        lock (_writeLock)
        {
            if (IsClosed) return false;
            _queue.Enqueue(frame);
            if (_socket is null || _writerOwns) return true;
            failure = WriteQueuedLocked(_socket);
        }
        if (failure is not null) Fail(failure);
        return true;
    }

    public void Close()
    {
        Socket? socket;
        lock (_writeLock)
        {
            _closed = true;
            _queue.Clear();
            socket = _socket;
        }
        try { socket?.Dispose(); } catch { /* closing anyway */ }
        _writerWake.Release();
    }

    /// <summary>Writes queued frames, oldest first, with non-blocking sends. When the socket buffer is
    /// full, hands the rest to the writer thread. Returns the socket error that ends the connection, if any.</summary>
    private Exception? WriteQueuedLocked(Socket socket)
    {
        while (_queue.TryPeek(out var head))
        {
            int written;
            SocketError error;
            try { written = socket.Send(head, _headWritten, head.Length - _headWritten, SocketFlags.None, out error); }
            catch (Exception e) { return e; }
            if (error == SocketError.WouldBlock)
            {
                _writerOwns = true;
                if (_writer is null)
                {
                    _writer = new Thread(WriterLoop) { IsBackground = true, Name = $"raft-conn-write {Name}" };
                    _writer.Start();
                }
                _writerWake.Release();
                return null;
            }
            if (error != SocketError.Success) return new SocketException((int)error);
            _headWritten += written;
            if (_headWritten == head.Length)
            {
                _queue.Dequeue();
                _headWritten = 0;
            }
        }
        return null;
    }

    /// <summary>The writer thread: whenever the queue was left to it, waits until the socket takes
    /// more and writes, until the queue is empty (then callers write directly again).</summary>
    private void WriterLoop()
    {
        try
        {
            while (true)
            {
                _writerWake.Wait();
                while (true)
                {
                    Socket socket;
                    lock (_writeLock)
                    {
                        if (IsClosed) return;
                        if (!_writerOwns) break;
                        socket = _socket!;
                    }
                    socket.Poll(PollMicros, SelectMode.SelectWrite);
                    Exception? failure;
                    lock (_writeLock)
                    {
                        if (IsClosed) return;
                        _writerOwns = false;
                        failure = WriteQueuedLocked(socket); // sets _writerOwns again when the socket is still full
                    }
                    if (failure is not null)
                    {
                        Fail(failure);
                        return;
                    }
                }
            }
        }
        catch (Exception e)
        {
            Fail(e);
        }
    }

    private void Fail(Exception e)
    {
        if (!IsClosed) _log($"raft connection {Name}: closed after {e.GetType().Name}: {e.Message}");
        Close();
    }

    private void Run()
    {
        try
        {
            var socket = _open(this);
            Exception? failure = null;
            lock (_writeLock)
            {
                if (IsClosed)
                {
                    socket.Dispose();
                    return;
                }
                socket.NoDelay = true;
                socket.Blocking = false;
                _socket = socket;
                if (_queue.Count > 0) failure = WriteQueuedLocked(socket); // frames sent before the connection was up
            }
            if (failure is not null) throw failure;
            ReadLoop(socket); // returns (or throws) when the peer or Close ends the connection
        }
        catch (Exception e) when (!IsClosed)
        {
            _log($"raft connection {Name}: closed after {e.GetType().Name}: {e.Message}");
        }
        catch
        {
            // Closed or stopping: the failure is the closing itself.
        }
        finally
        {
            Close();
        }
    }

    /// <summary>Reads what the socket has into a buffer and hands over every whole frame in it; a
    /// frame larger than the buffer is read straight into an array of its own.</summary>
    private void ReadLoop(Socket socket)
    {
        var buffer = new byte[ReadBufferBytes];
        int start = 0, end = 0;
        while (true)
        {
            while (end - start >= Frames.SizePrefixBytes)
            {
                int size = Frames.ReadSize(buffer.AsSpan(start, Frames.SizePrefixBytes), MaxFrameBytes);
                int available = end - start - Frames.SizePrefixBytes;
                byte[] frame;
                if (available >= size)
                {
                    frame = buffer.AsSpan(start + Frames.SizePrefixBytes, size).ToArray();
                    start += Frames.SizePrefixBytes + size;
                }
                else if (Frames.SizePrefixBytes + size > buffer.Length)
                {
                    frame = new byte[size];
                    buffer.AsSpan(start + Frames.SizePrefixBytes, available).CopyTo(frame);
                    start = end = 0;
                    for (int got = available; got < size;)
                    {
                        int n = Receive(socket, frame, got, size - got);
                        if (n == 0) throw new EndOfStreamException("connection closed inside a frame");
                        got += n;
                    }
                }
                else break;
                _onFrame(this, frame);
            }
            if (start == end) start = end = 0;
            else if (buffer.Length - end < ReadBufferBytes / 4)
            {
                buffer.AsSpan(start, end - start).CopyTo(buffer);
                end -= start;
                start = 0;
            }
            int read = Receive(socket, buffer, end, buffer.Length - end);
            if (read == 0)
            {
                if (end != start) throw new EndOfStreamException("connection closed inside a frame");
                return; // orderly close by the peer
            }
            end += read;
        }
    }

    /// <summary>Reads at least one byte (0: the peer closed), waiting in poll while there is nothing to read.</summary>
    private int Receive(Socket socket, byte[] buffer, int offset, int count)
    {
        while (true)
        {
            int n = socket.Receive(buffer, offset, count, SocketFlags.None, out var error);
            if (error == SocketError.Success) return n;
            if (error != SocketError.WouldBlock) throw new SocketException((int)error);
            while (!socket.Poll(PollMicros, SelectMode.SelectRead))
                if (IsClosed) throw new OperationCanceledException($"connection {Name} closed");
        }
    }
}
