using Fjord.Protocol;
using Microsoft.Win32.SafeHandles;

namespace Fjord.Network;

/// <summary>What a handler wants done with its request.</summary>
public enum ApiResponseKind
{
    /// <summary>A message, encoded by the connection at the request's version with the right response header.</summary>
    Message,
    /// <summary>No response at all (Produce with acks=0). The next response in the pipeline follows.</summary>
    None,
    /// <summary>Close the connection once every earlier response has been written.</summary>
    CloseConnection,
    /// <summary>A pre-encoded response body made of segments (memory and file regions).</summary>
    Segments,
    /// <summary>A whole encoded frame, size prefix included (the network layer's own ApiVersions answers).</summary>
    RawFrame,
}

/// <summary>
/// A handler's answer: see <see cref="ApiResponseKind"/>. <see cref="None"/> and
/// <see cref="CloseConnection"/> are shared instances; the other forms are built by the factory methods.
/// </summary>
public sealed class ApiResponse
{
    private ApiResponse(ApiResponseKind kind, IKafkaMessage? message, SegmentedBody? body, byte[]? rawFrame)
    {
        Kind = kind;
        Message = message;
        Body = body;
        RawFrame = rawFrame;
    }

    public ApiResponseKind Kind { get; }
    /// <summary>Set for <see cref="ApiResponseKind.Message"/>.</summary>
    public IKafkaMessage? Message { get; }
    /// <summary>Set for <see cref="ApiResponseKind.Segments"/>.</summary>
    public SegmentedBody? Body { get; }
    internal byte[]? RawFrame { get; }

    /// <summary>No response (Produce acks=0).</summary>
    public static ApiResponse None { get; } = new(ApiResponseKind.None, null, null, null);

    /// <summary>Close the connection (after the responses to earlier requests have been written).</summary>
    public static ApiResponse CloseConnection { get; } = new(ApiResponseKind.CloseConnection, null, null, null);

    /// <summary>Answer with <paramref name="message"/> (a response message of the request's API).</summary>
    public static ApiResponse Of(IKafkaMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        return new ApiResponse(ApiResponseKind.Message, message, null, null);
    }

    /// <summary>Answer with a pre-encoded body (the bytes that follow the response header).</summary>
    public static ApiResponse FromSegments(SegmentedBody body)
    {
        ArgumentNullException.ThrowIfNull(body);
        return new ApiResponse(ApiResponseKind.Segments, null, body, null);
    }

    /// <summary>Answer with a pre-encoded body (the bytes that follow the response header); <paramref name="onCompleted"/>
    /// runs once the body has been sent or abandoned (release file leases there).</summary>
    public static ApiResponse FromSegments(IReadOnlyList<ResponseSegment> segments, Action? onCompleted = null) =>
        FromSegments(new SegmentedBody(segments, onCompleted));

    internal static ApiResponse Raw(byte[] frameWithSizePrefix) => new(ApiResponseKind.RawFrame, null, null, frameWithSizePrefix);

    /// <summary>Releases what the response holds (a segmented body's completion callback). Idempotent.</summary>
    internal void Release() => Body?.Complete();
}

/// <summary>
/// One piece of a pre-encoded response body: either bytes in memory or a region of a file, sent with
/// sendfile where the platform allows. The file handle must stay open until the body's completion
/// callback has run; the network layer never closes it. Open it with <see cref="FileOptions.Asynchronous"/>
/// for sendfile (.NET hands only asynchronous file streams to its sendfile path); a synchronous handle
/// is sent by pread into a pooled buffer instead.
/// </summary>
public readonly struct ResponseSegment
{
    private ResponseSegment(ReadOnlyMemory<byte> memory, SafeFileHandle? file, long position, int length)
    {
        Memory = memory;
        File = file;
        Position = position;
        Length = length;
    }

    public ReadOnlyMemory<byte> Memory { get; }
    public SafeFileHandle? File { get; }
    public long Position { get; }
    public int Length { get; }
    public bool IsFile => File is not null;

    public static ResponseSegment FromMemory(ReadOnlyMemory<byte> bytes) => new(bytes, null, 0, bytes.Length);

    public static ResponseSegment FromFile(SafeFileHandle file, long position, int length)
    {
        ArgumentNullException.ThrowIfNull(file);
        ArgumentOutOfRangeException.ThrowIfNegative(position);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        return new(ReadOnlyMemory<byte>.Empty, file, position, length);
    }

    public static implicit operator ResponseSegment(byte[] bytes) => FromMemory(bytes);
    public static implicit operator ResponseSegment(ReadOnlyMemory<byte> bytes) => FromMemory(bytes);
}

/// <summary>A pre-encoded response body: its segments in order and a callback run exactly once after
/// the body was sent, or when it never will be (connection closed first).</summary>
public sealed class SegmentedBody
{
    private Action? _onCompleted;

    public SegmentedBody(IReadOnlyList<ResponseSegment> segments, Action? onCompleted = null)
    {
        ArgumentNullException.ThrowIfNull(segments);
        long total = 0;
        foreach (var s in segments) total += s.Length;
        Segments = segments;
        Length = total;
        _onCompleted = onCompleted;
    }

    public IReadOnlyList<ResponseSegment> Segments { get; }
    /// <summary>The sum of the segments' lengths.</summary>
    public long Length { get; }

    internal void Complete() => Interlocked.Exchange(ref _onCompleted, null)?.Invoke();
}
