using Fjord.Protocol.Compression;

namespace Fjord.Protocol.Tests.Compression;

/// <summary>Decodes streams produced by real client libraries (see make-vectors.py).</summary>
public class ClientVectorTests
{
    private static readonly byte[] Payload = TestData.Read("Compression/Data/payload.bin");

    [Theory]
    [InlineData("gzip.bin", CompressionType.Gzip)]
    [InlineData("gzip-multimember.bin", CompressionType.Gzip)]
    [InlineData("snappy-raw.bin", CompressionType.Snappy)]
    [InlineData("snappy-xerial.bin", CompressionType.Snappy)]
    [InlineData("lz4-kafka-python.bin", CompressionType.Lz4)]
    [InlineData("lz4-linked-checksums.bin", CompressionType.Lz4)]
    [InlineData("lz4-linked-64k.bin", CompressionType.Lz4)]
    [InlineData("lz4-hc-4mb.bin", CompressionType.Lz4)]
    [InlineData("zstd-nosize.bin", CompressionType.Zstd)]
    [InlineData("zstd-stream-checksum.bin", CompressionType.Zstd)]
    [InlineData("zstd-two-frames.bin", CompressionType.Zstd)]
    public void Decodes_client_output(string file, CompressionType type)
    {
        var compressed = TestData.Read("Compression/Data/" + file);
        using var output = new PooledBufferWriter();
        int produced = CompressionCodecs.Get(type).Decompress(compressed, output, Payload.Length);
        Assert.Equal(Payload.Length, produced);
        Assert.True(Payload.AsSpan().SequenceEqual(output.WrittenSpan));
    }

    [Fact]
    public void Old_kafka_lz4_header_checksum_is_accepted_only_by_the_legacy_instance()
    {
        var compressed = TestData.Read("Compression/Data/lz4-old-kafka.bin");
        using var output = new PooledBufferWriter();
        var error = Assert.Throws<ProtocolDecodeException>(() => CompressionCodecs.Lz4.Decompress(compressed, output, Payload.Length));
        Assert.Contains("header checksum", error.Message);

        output.Clear();
        Lz4Codec.LegacyKafka08.Decompress(compressed, output, Payload.Length);
        Assert.True(Payload.AsSpan().SequenceEqual(output.WrittenSpan));
    }

    [Fact]
    public void Our_snappy_frames_match_the_xerial_layout_kafka_python_writes()
    {
        var ours = new System.Buffers.ArrayBufferWriter<byte>();
        CompressionCodecs.Snappy.Compress(Payload, ours);
        var theirs = TestData.Read("Compression/Data/snappy-xerial.bin");
        Assert.True(ours.WrittenSpan[..16].SequenceEqual(theirs.AsSpan(0, 16)), "xerial header differs");
        // Same 32 KiB blocking: same number of blocks.
        Assert.Equal(CountXerialBlocks(theirs), CountXerialBlocks(ours.WrittenSpan.ToArray()));
    }

    [Fact]
    public void Our_lz4_frame_header_matches_the_java_client()
    {
        var ours = new System.Buffers.ArrayBufferWriter<byte>();
        CompressionCodecs.Lz4.Compress(Payload, ours);
        // magic, FLG=0x60 (v1, independent blocks), BD=0x40 (64 KiB), HC = xxh32(FLG,BD) >> 8 = 0x82
        Assert.Equal(new byte[] { 0x04, 0x22, 0x4D, 0x18, 0x60, 0x40, 0x82 }, ours.WrittenSpan[..7].ToArray());
    }

    private static int CountXerialBlocks(byte[] data)
    {
        int count = 0;
        for (int position = 16; position < data.Length; count++)
            position += 4 + System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(data.AsSpan(position));
        return count;
    }
}
