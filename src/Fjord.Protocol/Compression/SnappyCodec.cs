using System.Buffers;
using System.Buffers.Binary;

namespace Fjord.Protocol.Compression;

/// <summary>
/// Codec 2: snappy as Kafka clients send it. The Java client wraps raw snappy in xerial's block
/// framing: an 8-byte magic (0x82 "SNAPPY" 0x00), int32 version and int32 compatible-version
/// (big-endian), then blocks of int32 big-endian compressed length + one raw snappy stream each.
/// librdkafka may send plain raw snappy. We read both (and concatenated xerial streams) and write
/// xerial framing with 32 KiB blocks like the Java client.
/// </summary>
public sealed class SnappyCodec : ICompressionCodec
{
    /// <summary>Uncompressed bytes per xerial block (xerial's default, used by the Java client).</summary>
    public const int XerialBlockBytes = 32 * 1024;
    private const int XerialHeaderBytes = 16;
    private static ReadOnlySpan<byte> XerialMagic => [0x82, (byte)'S', (byte)'N', (byte)'A', (byte)'P', (byte)'P', (byte)'Y', 0];

    public CompressionType Type => CompressionType.Snappy;
    public string Name => "snappy";

    public int Compress(ReadOnlySpan<byte> source, IBufferWriter<byte> destination)
    {
        var header = destination.GetSpan(XerialHeaderBytes);
        XerialMagic.CopyTo(header);
        BinaryPrimitives.WriteInt32BigEndian(header[8..], 1);
        BinaryPrimitives.WriteInt32BigEndian(header[12..], 1);
        destination.Advance(XerialHeaderBytes);
        int total = XerialHeaderBytes;
        for (int start = 0; start < source.Length; start += XerialBlockBytes)
        {
            var block = source.Slice(start, Math.Min(XerialBlockBytes, source.Length - start));
            var span = destination.GetSpan(4 + SnappyRaw.MaxCompressedLength(block.Length));
            int written = SnappyRaw.Compress(block, span[4..]);
            BinaryPrimitives.WriteInt32BigEndian(span, written);
            destination.Advance(4 + written);
            total += 4 + written;
        }
        return total;
    }

    /// <summary>Compresses to raw, unframed snappy (the form librdkafka sends).</summary>
    public static byte[] CompressRaw(ReadOnlySpan<byte> source)
    {
        var buffer = new byte[SnappyRaw.MaxCompressedLength(source.Length)];
        int written = SnappyRaw.Compress(source, buffer);
        return buffer.AsSpan(0, written).ToArray();
    }

    public int Decompress(ReadOnlySpan<byte> source, IBufferWriter<byte> destination, int maxOutputBytes)
    {
        if (source.IsEmpty) return 0;
        if (!IsXerial(source)) return DecompressRaw(source, destination, maxOutputBytes, 0);
        int total = 0;
        int position = 0;
        while (position < source.Length)
        {
            var rest = source[position..];
            if (IsXerial(rest))
            {
                position += XerialHeaderBytes; // a (possibly concatenated) stream header
                continue;
            }
            if (rest.Length < 4) throw Corrupt($"truncated block length at {position}");
            int blockLength = BinaryPrimitives.ReadInt32BigEndian(rest);
            if (blockLength < 0 || blockLength > rest.Length - 4)
                throw Corrupt($"block length {blockLength} at {position} exceeds the {rest.Length - 4} bytes that remain");
            total += DecompressRaw(rest.Slice(4, blockLength), destination, maxOutputBytes, total);
            position += 4 + blockLength;
        }
        return total;
    }

    private static bool IsXerial(ReadOnlySpan<byte> data) =>
        data.Length >= XerialHeaderBytes && data[..8].SequenceEqual(XerialMagic);

    private int DecompressRaw(ReadOnlySpan<byte> block, IBufferWriter<byte> destination, int maxOutputBytes, int alreadyWritten)
    {
        if (block.IsEmpty) return 0;
        int length = SnappyRaw.ReadUncompressedLength(block, out int preamble);
        if (length > maxOutputBytes - alreadyWritten)
            throw Corrupt($"inflates past the {maxOutputBytes}-byte limit");
        if (length == 0)
        {
            if (preamble != block.Length) throw Corrupt("data after an empty stream");
            return 0;
        }
        var span = destination.GetSpan(length)[..length];
        SnappyRaw.DecompressBody(block[preamble..], span);
        destination.Advance(length);
        return length;
    }

    private ProtocolDecodeException Corrupt(string problem) => new(Name, problem);
}
