using System.Buffers;
using System.Net.Sockets;
using Fjord.Protocol.Framing;

namespace Fjord.Network;

/// <summary>
/// Reads size-prefixed frames from a socket. Small frames are carved out of one pooled receive buffer
/// (several pipelined requests usually arrive in one receive); the rest of a large frame is received
/// straight into the frame's own array. Each frame gets an array of exactly its size, because decoded
/// messages keep slices of it (record batches). The size is checked before anything is allocated, and
/// a frame above 1 MiB gets its array grown as its bytes arrive rather than allocated from the prefix.
/// Not thread-safe: one reader loop per connection.
/// </summary>
internal sealed class FrameReader : IDisposable
{
    private const int BufferSize = 16 * 1024;
    private const int GrowFromBytes = 1024 * 1024;
    private readonly Socket _socket;
    private readonly int _maxFrameBytes;
    private byte[]? _buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
    private int _start;
    private int _end;

    public FrameReader(Socket socket, int maxFrameBytes)
    {
        _socket = socket;
        _maxFrameBytes = maxFrameBytes;
    }

    /// <summary>Bytes received so far (size prefixes included).</summary>
    public long BytesRead { get; private set; }

    /// <summary>
    /// The next frame (size prefix stripped), or null when the peer closed the connection cleanly between
    /// frames. Throws <see cref="Fjord.Protocol.ProtocolDecodeException"/> for a negative or oversized
    /// size, <see cref="EndOfStreamException"/> when the peer closes mid-frame, and socket exceptions.
    /// </summary>
    public async ValueTask<byte[]?> ReadFrameAsync(CancellationToken ct)
    {
        var buffer = _buffer ?? throw new ObjectDisposedException(nameof(FrameReader));
        while (_end - _start < Frames.SizePrefixBytes)
        {
            if (!await FillAsync(ct).ConfigureAwait(false))
            {
                if (_end == _start) return null;
                throw new EndOfStreamException("connection closed inside a frame's size prefix");
            }
        }
        int size = Frames.ReadSize(buffer.AsSpan(_start, Frames.SizePrefixBytes), _maxFrameBytes);
        _start += Frames.SizePrefixBytes;
        // A large frame's array grows as its bytes actually arrive (at most doubling, so at most one
        // extra copy of each byte): a peer claiming 100 MB must send 100 MB before we hold 100 MB.
        var frame = size == 0 ? [] : new byte[Math.Min(size, GrowFromBytes)];
        int have = Math.Min(size, _end - _start);
        buffer.AsSpan(_start, have).CopyTo(frame);
        _start += have;
        if (_start == _end) _start = _end = 0;
        int filled = have;
        while (filled < size)
        {
            if (filled == frame.Length) Array.Resize(ref frame, (int)Math.Min(size, 2L * frame.Length));
            int n = await _socket.ReceiveAsync(frame.AsMemory(filled), SocketFlags.None, ct).ConfigureAwait(false);
            if (n == 0) throw new EndOfStreamException($"connection closed after {filled} of {size} frame bytes");
            filled += n;
            BytesRead += n;
        }
        return frame;
    }

    private async ValueTask<bool> FillAsync(CancellationToken ct)
    {
        var buffer = _buffer!;
        if (_start > 0)
        {
            buffer.AsSpan(_start, _end - _start).CopyTo(buffer);
            _end -= _start;
            _start = 0;
        }
        int n = await _socket.ReceiveAsync(buffer.AsMemory(_end), SocketFlags.None, ct).ConfigureAwait(false);
        if (n == 0) return false;
        _end += n;
        BytesRead += n;
        return true;
    }

    public void Dispose()
    {
        var buffer = Interlocked.Exchange(ref _buffer, null);
        if (buffer is not null) ArrayPool<byte>.Shared.Return(buffer);
    }
}
