using System.Buffers;
using Fjord.Protocol.Compression;

namespace Fjord.Protocol.Tests.Compression;

/// <summary>
/// Seeded mutation of larger compressed streams (the record-level fuzz sees only small batches):
/// damaged input must either decode within the limit or throw ProtocolDecodeException naming the
/// codec. This also drives the decoders' word-wide fast paths over hostile offsets and lengths.
/// </summary>
public class CodecMutationTests
{
    [Theory]
    [InlineData(CompressionType.Gzip, 1)]
    [InlineData(CompressionType.Snappy, 2)]
    [InlineData(CompressionType.Lz4, 3)]
    [InlineData(CompressionType.Zstd, 4)]
    public void Damaged_streams_fail_cleanly(CompressionType type, int seed)
    {
        var codec = CompressionCodecs.Get(type);
        var random = new Random(seed);
        var originals = new List<byte[]>();
        foreach (var input in new[] { TestData.Text(100_000, seed), TestData.Repetitive(50_000), TestData.Random(5_000, seed) })
        {
            var compressed = new ArrayBufferWriter<byte>();
            codec.Compress(input, compressed);
            originals.Add(compressed.WrittenSpan.ToArray());
        }
        originals.Add(TestData.Read(type switch
        {
            CompressionType.Gzip => "Compression/Data/gzip.bin",
            CompressionType.Snappy => "Compression/Data/snappy-raw.bin",
            CompressionType.Lz4 => "Compression/Data/lz4-linked-checksums.bin",
            _ => "Compression/Data/zstd-nosize.bin",
        }));

        const int maxOutput = 300_000;
        using var output = new PooledBufferWriter();
        for (int iteration = 0; iteration < 1500; iteration++)
        {
            var data = (byte[])originals[random.Next(originals.Count)].Clone();
            int mutations = random.Next(1, 6);
            for (int m = 0; m < mutations; m++)
            {
                int at = random.Next(data.Length);
                data[at] = random.Next(3) switch { 0 => (byte)(data[at] ^ (1 << random.Next(8))), 1 => 0xFF, _ => (byte)random.Next(256) };
            }
            if (random.Next(4) == 0) data = data.AsSpan(0, random.Next(data.Length)).ToArray();
            output.Clear();
            try
            {
                int produced = codec.Decompress(data, output, maxOutput);
                Assert.True(produced <= maxOutput);
                Assert.Equal(produced, output.WrittenCount);
            }
            catch (ProtocolDecodeException e)
            {
                Assert.Equal(codec.Name, e.Field);
            }
            catch (Exception e)
            {
                Assert.Fail($"{type} seed {seed} iteration {iteration}: {e}");
            }
        }
    }
}
