namespace Fjord.Storage.Tests.Log;

public sealed class SegmentFileNamesTests
{
    [Fact]
    public void Names_are_twenty_digit_base_offsets()
    {
        Assert.Equal(Path.Combine("d", "00000000000000000000.log"), SegmentFileNames.LogFile("d", 0));
        Assert.Equal(Path.Combine("d", "00000000000000001234.index"), SegmentFileNames.OffsetIndexFile("d", 1234));
        Assert.Equal(Path.Combine("d", "00000000000000001234.timeindex.swap"), SegmentFileNames.TimeIndexFile("d", 1234, ".swap"));
        Assert.Throws<ArgumentOutOfRangeException>(() => SegmentFileNames.Stem(-1));
    }

    [Theory]
    [InlineData("00000000000000000042.log", 42, ".log", "")]
    [InlineData("00000000000000000042.index", 42, ".index", "")]
    [InlineData("00000000000000000042.timeindex", 42, ".timeindex", "")]
    [InlineData("00000000000000000042.log.cleaned", 42, ".log", ".cleaned")]
    [InlineData("00000000000000000042.index.swap", 42, ".index", ".swap")]
    [InlineData("00000000000000000042.timeindex.deleted", 42, ".timeindex", ".deleted")]
    [InlineData("00000000000000000042.index.tmp", 42, ".index", ".tmp")]
    public void Parses_segment_file_names(string name, long baseOffset, string kind, string marker)
    {
        Assert.True(SegmentFileNames.TryParse(name, out long b, out string k, out string m));
        Assert.Equal((baseOffset, kind, marker), (b, k, m));
    }

    [Theory]
    [InlineData("leader-epoch-checkpoint")]
    [InlineData("00000000000000000042.checkpoint")]
    [InlineData("0000000000000000004x.log")]
    [InlineData("00000000000000000042.log.bak")]
    [InlineData("00000000000000000042-0000000001.checkpoint")]
    public void Rejects_other_names(string name) => Assert.False(SegmentFileNames.TryParse(name, out _, out _, out _));
}
