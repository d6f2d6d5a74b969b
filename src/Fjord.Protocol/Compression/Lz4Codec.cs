using System.Buffers;
using System.Buffers.Binary;

namespace Fjord.Protocol.Compression;

/// <summary>
/// Codec 3: the LZ4 frame format (magic 0x184D2204) as Kafka clients send it, in managed code.
/// Writes what the Java client writes: FLG 0x60 (version 1, independent blocks, no checksums),
/// BD 0x40 (64 KiB blocks), no content size. Reads any frame from librdkafka, kafka-python or
/// the Java client: independent or linked blocks, optional block and content checksums, optional
/// content size, skippable frames and several frames back to back. Preset dictionaries are refused.
/// </summary>
/// <remarks>
/// Kafka 0.8/0.9 (magic 0 messages) computed the header checksum over the magic number too; the
/// instance made with <c>acceptLegacyHeaderChecksum: true</c> accepts that form as well.
/// </remarks>
public sealed class Lz4Codec(bool acceptLegacyHeaderChecksum = false) : ICompressionCodec
{
    private const uint FrameMagic = 0x184D2204;
    private const uint SkippableMagicMask = 0xFFFFFFF0;
    private const uint SkippableMagic = 0x184D2A50;
    private const int WriteBlockBytes = 64 * 1024;
    private const int WindowBytes = 64 * 1024;

    /// <summary>An instance for legacy (magic 0) message sets.</summary>
    public static readonly Lz4Codec LegacyKafka08 = new(acceptLegacyHeaderChecksum: true);

    public CompressionType Type => CompressionType.Lz4;
    public string Name => "lz4";

    public int Compress(ReadOnlySpan<byte> source, IBufferWriter<byte> destination)
    {
        var header = destination.GetSpan(7);
        BinaryPrimitives.WriteUInt32LittleEndian(header, FrameMagic);
        header[4] = 0x60; // version 01, block independence
        header[5] = 0x40; // 64 KiB maximum block size
        header[6] = (byte)(XxHash32.Hash(header.Slice(4, 2)) >> 8);
        destination.Advance(7);
        int total = 7;
        for (int start = 0; start < source.Length; start += WriteBlockBytes)
        {
            var block = source.Slice(start, Math.Min(WriteBlockBytes, source.Length - start));
            var span = destination.GetSpan(4 + Lz4Block.MaxCompressedLength(block.Length));
            int written = Lz4Block.Compress(block, span[4..]);
            if (written >= block.Length)
            {
                block.CopyTo(span[4..]);
                written = block.Length;
                BinaryPrimitives.WriteUInt32LittleEndian(span, (uint)written | 0x80000000u);
            }
            else BinaryPrimitives.WriteUInt32LittleEndian(span, (uint)written);
            destination.Advance(4 + written);
            total += 4 + written;
        }
        BinaryPrimitives.WriteUInt32LittleEndian(destination.GetSpan(4), 0); // end mark
        destination.Advance(4);
        return total + 4;
    }

    public int Decompress(ReadOnlySpan<byte> source, IBufferWriter<byte> destination, int maxOutputBytes)
    {
        int position = 0, total = 0;
        while (position < source.Length)
        {
            if (source.Length - position < 4) throw Corrupt($"truncated frame magic at {position}");
            uint magic = BinaryPrimitives.ReadUInt32LittleEndian(source[position..]);
            if ((magic & SkippableMagicMask) == SkippableMagic)
            {
                if (source.Length - position < 8) throw Corrupt("truncated skippable frame");
                uint size = BinaryPrimitives.ReadUInt32LittleEndian(source[(position + 4)..]);
                if (size > (uint)(source.Length - position - 8)) throw Corrupt($"skippable frame of {size} bytes overruns the input");
                position += 8 + (int)size;
                continue;
            }
            if (magic != FrameMagic) throw Corrupt($"bad frame magic 0x{magic:X8} at {position}");
            var frame = new Lz4FrameReader(source, position, acceptLegacyHeaderChecksum);
            position = frame.DecodeInto(destination, maxOutputBytes, ref total);
        }
        return total;
    }

    private static ProtocolDecodeException Corrupt(string problem) => new("lz4", problem);
}
