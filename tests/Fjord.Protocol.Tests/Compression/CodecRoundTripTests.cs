using System.Buffers;
using Fjord.Protocol.Compression;

namespace Fjord.Protocol.Tests.Compression;

public class CodecRoundTripTests
{
    public static TheoryData<CompressionType, string> Cases()
    {
        var data = new TheoryData<CompressionType, string>();
        foreach (var type in Enum.GetValues<CompressionType>())
            foreach (var kind in new[] { "empty", "one", "tiny", "random-1MiB", "repetitive-1MiB", "text-300KiB", "zeros-200KiB", "odd-sizes" })
                data.Add(type, kind);
        return data;
    }

    private static IEnumerable<byte[]> Inputs(string kind) => kind switch
    {
        "empty" => [[]],
        "one" => [[42]],
        "tiny" => [TestData.Random(13, 1), "hello hello hello hello"u8.ToArray()],
        "random-1MiB" => [TestData.Random(1 << 20, 2)],
        "repetitive-1MiB" => [TestData.Repetitive(1 << 20)],
        "text-300KiB" => [TestData.Text(300 * 1024, 3)],
        "zeros-200KiB" => [new byte[200 * 1024]],
        "odd-sizes" => Enumerable.Range(0, 40).Select(i => TestData.Text(i * 97 + (i % 3) * 65536 / 7, i)),
        _ => throw new ArgumentException(kind),
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Round_trips(CompressionType type, string kind)
    {
        var codec = CompressionCodecs.Get(type);
        foreach (var input in Inputs(kind))
        {
            var compressed = new ArrayBufferWriter<byte>();
            int written = codec.Compress(input, compressed);
            Assert.Equal(compressed.WrittenCount, written);

            using var output = new PooledBufferWriter();
            int produced = codec.Decompress(compressed.WrittenSpan, output, input.Length);
            Assert.Equal(input.Length, produced);
            Assert.True(input.AsSpan().SequenceEqual(output.WrittenSpan), $"{type}/{kind}: round trip differs");

            if (kind == "repetitive-1MiB" && type != CompressionType.None)
                Assert.True(written < input.Length / 10, $"{type} compressed repetitive data only to {written} bytes");
        }
    }

    [Theory]
    [InlineData(CompressionType.Gzip)]
    [InlineData(CompressionType.Snappy)]
    [InlineData(CompressionType.Lz4)]
    [InlineData(CompressionType.Zstd)]
    [InlineData(CompressionType.None)]
    public void Refuses_to_inflate_past_the_limit(CompressionType type)
    {
        var codec = CompressionCodecs.Get(type);
        var input = TestData.Repetitive(100_000);
        var compressed = new ArrayBufferWriter<byte>();
        codec.Compress(input, compressed);

        using var output = new PooledBufferWriter();
        var error = Assert.Throws<ProtocolDecodeException>(() => codec.Decompress(compressed.WrittenSpan, output, input.Length - 1));
        Assert.Equal(codec.Name, error.Field);
        Assert.True(output.WrittenCount <= input.Length - 1);

        output.Clear();
        Assert.Equal(input.Length, codec.Decompress(compressed.WrittenSpan, output, input.Length));
    }

    [Theory]
    [InlineData(CompressionType.Gzip)]
    [InlineData(CompressionType.Snappy)]
    [InlineData(CompressionType.Lz4)]
    [InlineData(CompressionType.Zstd)]
    public void A_decompression_bomb_costs_at_most_the_limit(CompressionType type)
    {
        var codec = CompressionCodecs.Get(type);
        var bomb = new ArrayBufferWriter<byte>();
        codec.Compress(new byte[64 << 20], bomb); // 64 MiB of zeros
        Assert.True(bomb.WrittenCount < 4 << 20);

        using var output = new PooledBufferWriter();
        var error = Assert.Throws<ProtocolDecodeException>(() => codec.Decompress(bomb.WrittenSpan, output, 1 << 20));
        Assert.Equal(codec.Name, error.Field);
        Assert.True(output.Capacity <= 8 << 20, $"{type} reserved {output.Capacity} bytes for a 1 MiB limit");
    }

    [Fact]
    public void Registry_maps_wire_ids_and_refuses_unknown_ones()
    {
        foreach (var type in Enum.GetValues<CompressionType>())
            Assert.Equal(type, CompressionCodecs.Get(type).Type);
        Assert.Equal(["none", "gzip", "snappy", "lz4", "zstd"], Enum.GetValues<CompressionType>().Select(t => CompressionCodecs.Get(t).Name));
        for (int id = 5; id < 8; id++)
        {
            Assert.False(CompressionCodecs.TryGet(id, out _));
            Assert.Throws<ProtocolDecodeException>(() => CompressionCodecs.Get((CompressionType)id));
        }
    }

    [Fact]
    public void Missing_native_library_names_the_debian_package()
    {
        var error = new NativeCodecUnavailableException("zstd", "libzstd.so.1", "libzstd1", "not found");
        Assert.Contains("libzstd1", error.Message);
        Assert.Contains("libzstd.so.1", error.Message);
        Assert.True(ZstdCodec.IsAvailable, "libzstd.so.1 should be installed on the build machine (Debian package libzstd1)");
    }
}
