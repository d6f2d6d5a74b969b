using System.Buffers;
using System.Buffers.Binary;
using Fjord.Protocol.Compression;

namespace Fjord.Protocol.Tests.Compression;

/// <summary>Corrupt, truncated and hostile compressed input: only ProtocolDecodeException naming the codec.</summary>
public class CorruptInputTests
{
    private static byte[] Compress(CompressionType type, byte[] input)
    {
        var output = new ArrayBufferWriter<byte>();
        CompressionCodecs.Get(type).Compress(input, output);
        return output.WrittenSpan.ToArray();
    }

    private static ProtocolDecodeException Fails(CompressionType type, byte[] input, int max = 1 << 20)
    {
        var codec = CompressionCodecs.Get(type);
        using var output = new PooledBufferWriter();
        var error = Assert.Throws<ProtocolDecodeException>(() => codec.Decompress(input, output, max));
        Assert.Equal(codec.Name, error.Field);
        return error;
    }

    [Theory]
    [InlineData(CompressionType.Gzip)]
    [InlineData(CompressionType.Snappy)]
    [InlineData(CompressionType.Lz4)]
    [InlineData(CompressionType.Zstd)]
    public void Every_truncation_is_refused_or_at_most_yields_a_prefix(CompressionType type)
    {
        var input = TestData.Text(70_000, 5);
        var compressed = Compress(type, input);
        var codec = CompressionCodecs.Get(type);
        for (int cut = 1; cut < compressed.Length; cut += Math.Max(1, compressed.Length / 300))
        {
            using var output = new PooledBufferWriter();
            try
            {
                codec.Decompress(compressed.AsSpan(0, cut), output, 1 << 20);
                // Only xerial snappy has no end marker: cut at a block boundary it yields a prefix.
                Assert.Equal(CompressionType.Snappy, type);
                Assert.True(input.AsSpan().StartsWith(output.WrittenSpan), $"{type} cut at {cut} produced wrong bytes");
                Assert.True(output.WrittenCount < input.Length, $"{type} cut at {cut} claimed the whole input");
            }
            catch (ProtocolDecodeException e)
            {
                Assert.Equal(codec.Name, e.Field);
            }
        }
    }

    [Theory]
    [InlineData(CompressionType.Gzip)]
    [InlineData(CompressionType.Snappy)]
    [InlineData(CompressionType.Lz4)]
    [InlineData(CompressionType.Zstd)]
    public void Random_garbage_is_refused(CompressionType type)
    {
        var random = new Random(11);
        for (int i = 0; i < 300; i++)
        {
            var garbage = TestData.Random(random.Next(1, 2000), i);
            var codec = CompressionCodecs.Get(type);
            using var output = new PooledBufferWriter();
            try { codec.Decompress(garbage, output, 1 << 16); }
            catch (ProtocolDecodeException e) { Assert.Equal(codec.Name, e.Field); }
        }
    }

    [Fact]
    public void Snappy_length_claims_beyond_any_possible_expansion_are_refused_before_allocating()
    {
        // Preamble claims 2 GiB - 1 from a 6-byte input.
        var error = Fails(CompressionType.Snappy, [0xFF, 0xFF, 0xFF, 0xFF, 0x07, 0x00], max: int.MaxValue);
        Assert.Contains("claims", error.Message);
    }

    [Fact]
    public void Snappy_rejects_bad_offsets_and_length_mismatches()
    {
        Fails(CompressionType.Snappy, [0x04, 0x01 | (0 << 2), 0x00]);        // copy with offset 0
        Fails(CompressionType.Snappy, [0x08, 0x00, (byte)'a', 0x05, 0x05]);  // copy reaching before the start
        Fails(CompressionType.Snappy, [0x05, 0x00, (byte)'a']);              // decodes 1 byte, declared 5
        Fails(CompressionType.Snappy, [0x01, 0x04, (byte)'a', (byte)'b']);   // literal overruns declared length
        Fails(CompressionType.Snappy, [0x80, 0x80, 0x80, 0x80, 0x80, 0x01]); // varint longer than 5 bytes
    }

    [Fact]
    public void Snappy_xerial_block_length_must_fit()
    {
        var framed = Compress(CompressionType.Snappy, TestData.Text(1000, 1));
        BinaryPrimitives.WriteInt32BigEndian(framed.AsSpan(16), int.MaxValue);
        Fails(CompressionType.Snappy, framed);
        BinaryPrimitives.WriteInt32BigEndian(framed.AsSpan(16), -5);
        Fails(CompressionType.Snappy, framed);
    }

    [Fact]
    public void Snappy_reads_concatenated_xerial_streams()
    {
        var a = TestData.Text(40_000, 1);
        var b = TestData.Text(10_000, 2);
        var both = Compress(CompressionType.Snappy, a).Concat(Compress(CompressionType.Snappy, b)).ToArray();
        using var output = new PooledBufferWriter();
        CompressionCodecs.Snappy.Decompress(both, output, 1 << 20);
        Assert.True(a.Concat(b).ToArray().AsSpan().SequenceEqual(output.WrittenSpan));
    }

    [Fact]
    public void Lz4_frame_errors_are_named()
    {
        var frame = Compress(CompressionType.Lz4, TestData.Text(5000, 1));
        var badMagic = (byte[])frame.Clone();
        badMagic[0] ^= 1;
        Assert.Contains("magic", Fails(CompressionType.Lz4, badMagic).Message);

        var badChecksum = (byte[])frame.Clone();
        badChecksum[6] ^= 1;
        Assert.Contains("header checksum", Fails(CompressionType.Lz4, badChecksum).Message);

        var hugeBlock = (byte[])frame.Clone();
        BinaryPrimitives.WriteUInt32LittleEndian(hugeBlock.AsSpan(7), 0x7FFFFFFF);
        Assert.Contains("exceeds", Fails(CompressionType.Lz4, hugeBlock).Message);

        var noEndMark = frame.AsSpan(0, frame.Length - 4).ToArray();
        Assert.Contains("truncated", Fails(CompressionType.Lz4, noEndMark).Message);
    }

    [Fact]
    public void Lz4_skips_skippable_frames()
    {
        var input = TestData.Text(3000, 4);
        var skippable = new byte[] { 0x5A, 0x2A, 0x4D, 0x18, 3, 0, 0, 0, 1, 2, 3 };
        var data = skippable.Concat(Compress(CompressionType.Lz4, input)).Concat(skippable).ToArray();
        using var output = new PooledBufferWriter();
        CompressionCodecs.Lz4.Decompress(data, output, 1 << 20);
        Assert.True(input.AsSpan().SequenceEqual(output.WrittenSpan));
    }

    [Fact]
    public void Gzip_padding_and_truncated_trailers_are_refused()
    {
        var input = TestData.Text(20_000, 8);
        var compressed = Compress(CompressionType.Gzip, input);
        Fails(CompressionType.Gzip, compressed.Concat(new byte[] { 1, 2, 3, 4, 5 }).ToArray());
        for (int missing = 1; missing <= 8; missing++)
            Fails(CompressionType.Gzip, compressed.AsSpan(0, compressed.Length - missing).ToArray());
        var badCrc = (byte[])compressed.Clone();
        badCrc[^6] ^= 1;
        Fails(CompressionType.Gzip, badCrc);
    }

    [Fact]
    public void Zstd_window_limit_follows_the_output_limit()
    {
        Assert.Equal(23, ZstdCodec.WindowLogLimit(1));
        Assert.Equal(23, ZstdCodec.WindowLogLimit(1 << 20));
        Assert.Equal(24, ZstdCodec.WindowLogLimit((1 << 23) + 1));
        Assert.Equal(27, ZstdCodec.WindowLogLimit(int.MaxValue));
        // A frame whose window is larger than the limit allows is refused, not allocated.
        var zstd = CompressionCodecs.Zstd;
        var big = TestData.Read("Compression/Data/zstd-window-27.bin");
        using var output = new PooledBufferWriter();
        Assert.Equal("zstd", Assert.Throws<ProtocolDecodeException>(() => zstd.Decompress(big, output, 1 << 20)).Field);
        output.Clear();
        Assert.Equal(1000, zstd.Decompress(big, output, 1 << 27));
    }

    [Fact]
    public void Zstd_declared_content_size_beyond_the_limit_is_refused_up_front()
    {
        var frame = Compress(CompressionType.Zstd, new byte[1 << 20]);
        var error = Fails(CompressionType.Zstd, frame, max: 1000);
        Assert.Contains("declares", error.Message);
    }
}
