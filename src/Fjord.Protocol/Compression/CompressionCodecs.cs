using System.Buffers;

namespace Fjord.Protocol.Compression;

/// <summary>
/// The registry of codecs by wire id. Every entry is a shared, thread-safe default instance
/// (gzip at zlib's default level, zstd at level 3, snappy xerial-framed, lz4 frames with
/// independent 64 KiB blocks, like the Java client writes them).
/// </summary>
public static class CompressionCodecs
{
    public static readonly ICompressionCodec None = new NoCompressionCodec();
    public static readonly ICompressionCodec Gzip = new GzipCodec();
    public static readonly ICompressionCodec Snappy = new SnappyCodec();
    public static readonly ICompressionCodec Lz4 = new Lz4Codec();
    public static readonly ICompressionCodec Zstd = new ZstdCodec();

    private static readonly ICompressionCodec[] ById = [None, Gzip, Snappy, Lz4, Zstd];

    /// <summary>The codec for a wire id; ids 5-7 (and anything larger) are a decode error.</summary>
    public static ICompressionCodec Get(CompressionType type) =>
        TryGet((int)type, out var codec)
            ? codec
            : throw new ProtocolDecodeException("Attributes.Compression", $"unknown compression codec id {(int)type}");

    public static bool TryGet(int id, out ICompressionCodec codec)
    {
        if ((uint)id < (uint)ById.Length)
        {
            codec = ById[id];
            return true;
        }
        codec = None;
        return false;
    }

    /// <summary>Decompresses into a new pooled buffer the caller must dispose.</summary>
    public static PooledBufferWriter DecompressToPooled(ICompressionCodec codec, ReadOnlySpan<byte> source, int maxOutputBytes)
    {
        var output = new PooledBufferWriter((int)Math.Min(maxOutputBytes, Math.Max(256L, source.Length * 4L)));
        try
        {
            codec.Decompress(source, output, maxOutputBytes);
            return output;
        }
        catch
        {
            output.Dispose();
            throw;
        }
    }
}

/// <summary>Codec 0: a plain copy, still bounded by the caller's maximum.</summary>
internal sealed class NoCompressionCodec : ICompressionCodec
{
    public CompressionType Type => CompressionType.None;
    public string Name => "none";

    public int Compress(ReadOnlySpan<byte> source, IBufferWriter<byte> destination)
    {
        destination.Write(source);
        return source.Length;
    }

    public int Decompress(ReadOnlySpan<byte> source, IBufferWriter<byte> destination, int maxOutputBytes)
    {
        if (source.Length > maxOutputBytes)
            throw new ProtocolDecodeException(Name, $"{source.Length} bytes exceed the {maxOutputBytes}-byte limit");
        destination.Write(source);
        return source.Length;
    }
}
