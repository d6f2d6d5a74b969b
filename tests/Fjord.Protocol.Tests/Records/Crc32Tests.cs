using System.Text;
using Fjord.Protocol.Records;
using Fjord.Protocol.Tests.Compression;

namespace Fjord.Protocol.Tests.Records;

public class Crc32Tests
{
    private static readonly byte[] Check = Encoding.ASCII.GetBytes("123456789");

    [Fact]
    public void Crc32C_matches_the_standard_check_value()
    {
        Assert.Equal(0xE3069283u, Crc32C.Compute(Check));
        Assert.Equal(0xE3069283u, Crc32C.AppendSoftware(0, Check));
        Assert.Equal(0u, Crc32C.Compute([]));
    }

    [Fact]
    public void Crc32C_matches_rfc3720_vectors()
    {
        Assert.Equal(0x8A9136AAu, Crc32C.Compute(new byte[32]));
        Assert.Equal(0x62A8AB43u, Crc32C.Compute(Enumerable.Repeat((byte)0xFF, 32).ToArray()));
        Assert.Equal(0x46DD794Eu, Crc32C.Compute(Enumerable.Range(0, 32).Select(i => (byte)i).ToArray()));
        Assert.Equal(0x113FDB5Cu, Crc32C.Compute(Enumerable.Range(0, 32).Select(i => (byte)(31 - i)).ToArray()));
    }

    [Fact]
    public void Hardware_and_software_paths_agree_on_every_length_and_alignment()
    {
        if (!Crc32C.IsHardwareAccelerated) return; // nothing to compare on this CPU
        var data = TestData.Random(4096, seed: 7);
        for (int start = 0; start < 9; start++)
            for (int length = 0; length < 300; length++)
            {
                var span = data.AsSpan(start, length);
                Assert.Equal(Crc32C.AppendSoftware(0, span), Crc32C.AppendHardware(0, span));
            }
        Assert.Equal(Crc32C.AppendSoftware(0x12345678, data), Crc32C.AppendHardware(0x12345678, data));
    }

    [Fact]
    public void Append_continues_a_finished_crc()
    {
        var data = TestData.Random(1000, seed: 3);
        uint whole = Crc32C.Compute(data);
        for (int split = 0; split <= data.Length; split += 37)
        {
            Assert.Equal(whole, Crc32C.Append(Crc32C.Compute(data.AsSpan(0, split)), data.AsSpan(split)));
            Assert.Equal(whole, Crc32C.AppendSoftware(Crc32C.AppendSoftware(0, data.AsSpan(0, split)), data.AsSpan(split)));
        }
    }

    [Fact]
    public void Crc32Ieee_matches_the_standard_check_value()
    {
        Assert.Equal(0xCBF43926u, Crc32Ieee.Compute(Check));
        Assert.Equal(0u, Crc32Ieee.Compute([]));
        Assert.Equal(0x414FA339u, Crc32Ieee.Compute(Encoding.ASCII.GetBytes("The quick brown fox jumps over the lazy dog")));
    }
}
