using System.Buffers;
using System.Buffers.Binary;
using System.Net.Sockets;
using Microsoft.Win32.SafeHandles;

namespace Fjord.Network;

/// <summary>
/// Writing to a socket: whole buffers, and segmented bodies whose file regions go out with sendfile.
/// <para>
/// On Linux, <see cref="Socket.SendPacketsAsync(SocketAsyncEventArgs)"/> with a
/// <see cref="SendPacketsElement"/> built on a <see cref="FileStream"/> ends in the runtime's
/// <c>SocketPal.SendPacketsAsync</c> → <c>SocketAsyncContext.SendFileAsync</c> →
/// <c>SystemNative_SendFile</c>, i.e. sendfile(2) from the file descriptor to the socket, resumed on
/// EAGAIN by the socket's epoll loop, with no copy into managed memory (checked with strace: one
/// sendfile call per file region). The runtime only takes a FileStream, and only one opened for
/// asynchronous I/O, so a region's <see cref="SafeFileHandle"/> must have been opened with
/// <see cref="FileOptions.Asynchronous"/> (on Linux that changes nothing else: pread works the same);
/// it is wrapped in a FileStream that is never disposed (disposing it would close the caller's handle)
/// and whose finalizer is suppressed. Memory elements go out with send. A body with a file region on
/// a synchronous handle takes the fallback.
/// </para>
/// <para>The fallback (<see cref="NetworkOptions.UseSendFile"/> false) reads each region with pread
/// (<see cref="RandomAccess.Read(SafeFileHandle, Span{byte}, long)"/>) into a pooled buffer and sends it.</para>
/// </summary>
internal sealed class SocketSender : IDisposable
{
    private const int CopyChunk = 256 * 1024;
    private readonly Socket _socket;
    private readonly SocketAsyncEventArgs _packets = new();
    private TaskCompletionSource? _packetsDone;

    public SocketSender(Socket socket)
    {
        _socket = socket;
        _packets.Completed += (_, _) => _packetsDone?.TrySetResult();
    }

    public async ValueTask SendAllAsync(ReadOnlyMemory<byte> bytes, CancellationToken ct)
    {
        while (!bytes.IsEmpty)
        {
            int n = await _socket.SendAsync(bytes, SocketFlags.None, ct).ConfigureAwait(false);
            if (n <= 0) throw new SocketException((int)SocketError.ConnectionReset);
            bytes = bytes[n..];
        }
    }

    /// <summary>Sends <paramref name="prefix"/> (size prefix and response header) then the body's segments.</summary>
    public async ValueTask SendSegmentsAsync(byte[] prefix, SegmentedBody body, bool useSendFile, CancellationToken ct)
    {
        bool anyFile = false, allAsync = true;
        foreach (var s in body.Segments)
        {
            if (!s.IsFile || s.Length == 0) continue;
            anyFile = true;
            allAsync &= !s.File!.IsClosed && s.File.IsAsync;
        }
        if (useSendFile && anyFile && allAsync)
        {
            await SendPacketsAsync(prefix, body).ConfigureAwait(false);
            return;
        }
        await SendAllAsync(prefix, ct).ConfigureAwait(false);
        byte[]? scratch = null;
        try
        {
            foreach (var s in body.Segments)
            {
                if (s.Length == 0) continue;
                if (!s.IsFile)
                {
                    await SendAllAsync(s.Memory, ct).ConfigureAwait(false);
                    continue;
                }
                scratch ??= ArrayPool<byte>.Shared.Rent(Math.Min(CopyChunk, Math.Max(4096, s.Length)));
                long position = s.Position;
                int remaining = s.Length;
                while (remaining > 0)
                {
                    int want = Math.Min(remaining, scratch.Length);
                    int read = RandomAccess.Read(s.File!, scratch.AsSpan(0, want), position);
                    if (read <= 0) throw new IOException($"file region ends early: {remaining} bytes missing at position {position}");
                    await SendAllAsync(scratch.AsMemory(0, read), ct).ConfigureAwait(false);
                    position += read;
                    remaining -= read;
                }
            }
        }
        finally
        {
            if (scratch is not null) ArrayPool<byte>.Shared.Return(scratch);
        }
    }

    private async ValueTask SendPacketsAsync(byte[] prefix, SegmentedBody body)
    {
        var elements = new List<SendPacketsElement>(body.Segments.Count + 1) { new(prefix) };
        var wrappers = new List<FileStream>();
        long expected = prefix.Length;
        try
        {
            foreach (var s in body.Segments)
            {
                if (s.Length == 0) continue; // a count of 0 would mean "to the end of the file"
                expected += s.Length;
                if (!s.IsFile)
                {
                    elements.Add(new SendPacketsElement(s.Memory));
                    continue;
                }
                var stream = new FileStream(s.File!, FileAccess.Read, bufferSize: 0, isAsync: true);
                GC.SuppressFinalize(stream);
                wrappers.Add(stream);
                elements.Add(new SendPacketsElement(stream, s.Position, s.Length));
            }
            _packets.SendPacketsElements = elements.ToArray();
            var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _packetsDone = done;
            if (!_socket.SendPacketsAsync(_packets)) done.TrySetResult();
            await done.Task.ConfigureAwait(false);
            if (_packets.SocketError != SocketError.Success) throw new SocketException((int)_packets.SocketError);
            if (_packets.BytesTransferred != expected)
                throw new IOException($"sent {_packets.BytesTransferred} of {expected} response bytes");
        }
        finally
        {
            _packets.SendPacketsElements = null;
            _packetsDone = null;
            GC.KeepAlive(wrappers); // never disposed: that would close the caller's handles
        }
    }

    /// <summary>The size prefix and response header of a segmented body (header v1 adds an empty tagged-field section).</summary>
    public static byte[] SegmentPrefix(int correlationId, short responseHeaderVersion, long bodyLength)
    {
        int headerSize = 4 + (responseHeaderVersion >= 1 ? 1 : 0);
        long total = headerSize + bodyLength;
        if (total > int.MaxValue) throw new InvalidOperationException($"response of {total} bytes does not fit a frame");
        var prefix = new byte[4 + headerSize];
        BinaryPrimitives.WriteInt32BigEndian(prefix, (int)total);
        BinaryPrimitives.WriteInt32BigEndian(prefix.AsSpan(4), correlationId);
        return prefix; // the tagged-field count byte, if any, is already 0
    }

    public void Dispose() => _packets.Dispose();
}
