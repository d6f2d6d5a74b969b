using System.Buffers;

namespace Fjord.Protocol.Compression;

/// <summary>
/// One compression codec as Kafka clients use it on the wire. Implementations are stateless from
/// the caller's point of view and safe to use from many threads at once.
/// </summary>
/// <remarks>
/// Invariants every implementation keeps:
/// <list type="bullet">
/// <item><see cref="Decompress"/> never appends more than <c>maxOutputBytes</c> bytes; input that
/// would inflate further is refused with <see cref="ProtocolDecodeException"/> (a decompression
/// bomb costs at most the caller's bound).</item>
/// <item>Corrupt, truncated or otherwise unreadable input throws <see cref="ProtocolDecodeException"/>
/// whose <see cref="ProtocolDecodeException.Field"/> names the codec; nothing else escapes for bad bytes.</item>
/// <item>Empty input decompresses to empty output.</item>
/// <item>A codec whose native library is absent throws <see cref="NativeCodecUnavailableException"/>.</item>
/// </list>
/// </remarks>
public interface ICompressionCodec
{
    CompressionType Type { get; }

    /// <summary>Lower-case codec name as Kafka configs spell it (<c>gzip</c>, <c>snappy</c>, ...).</summary>
    string Name { get; }

    /// <summary>Appends the compressed form of <paramref name="source"/>; returns the bytes appended.</summary>
    int Compress(ReadOnlySpan<byte> source, IBufferWriter<byte> destination);

    /// <summary>Appends the decompressed form of <paramref name="source"/>; returns the bytes appended
    /// (at most <paramref name="maxOutputBytes"/>).</summary>
    int Decompress(ReadOnlySpan<byte> source, IBufferWriter<byte> destination, int maxOutputBytes);
}

/// <summary>Thrown when a codec needs a native library that is not installed.</summary>
public sealed class NativeCodecUnavailableException(string codec, string library, string debianPackage, string detail)
    : Exception($"{codec} compression needs the native library {library}, which could not be loaded ({detail}); " +
                $"install the Debian package {debianPackage} (apt-get install -y {debianPackage})")
{
    public string Codec { get; } = codec;
    public string Library { get; } = library;
    public string DebianPackage { get; } = debianPackage;
}
