using System.Text;
using Fjord.Protocol.Compression;

namespace Fjord.Protocol.Tests.Compression;

public class XxHash32Tests
{
    [Theory]
    [InlineData("", 0x02CC5D05u)]
    [InlineData("a", 0x550D7456u)]
    [InlineData("abc", 0x32D153FFu)]
    [InlineData("Nobody inspects the spammish repetition", 0xE2293B2Fu)]
    public void Matches_reference_values(string text, uint expected) =>
        Assert.Equal(expected, XxHash32.Hash(Encoding.ASCII.GetBytes(text)));

    [Fact]
    public void Streaming_equals_one_shot_for_any_split()
    {
        var data = TestData.Random(300, 9);
        uint whole = XxHash32.Hash(data);
        for (int split = 0; split <= data.Length; split++)
        {
            var state = XxHash32.Create();
            state.Append(data.AsSpan(0, split));
            foreach (var piece in data.AsSpan(split).ToArray().Chunk(7)) state.Append(piece);
            Assert.Equal(whole, state.Digest());
        }
    }
}
