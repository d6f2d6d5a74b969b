namespace Fjord.Storage.Tests.Log;

public sealed class TimeIndexTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    public void Dispose() => _dir.Dispose();

    private TimeIndex Open(long baseOffset = 100) => TimeIndex.Open(_dir.Combine("x.timeindex"), baseOffset);

    [Fact]
    public void Entries_are_added_only_when_the_timestamp_grows()
    {
        using var index = Open();
        Assert.True(index.MaybeAppend(1000, 100));
        Assert.False(index.MaybeAppend(1000, 105));
        Assert.False(index.MaybeAppend(900, 106));
        Assert.True(index.MaybeAppend(2000, 110));
        Assert.Equal([(1000L, 100L), (2000L, 110L)], index.Entries);
        Assert.Throws<InvalidOperationException>(() => index.MaybeAppend(3000, 110));
    }

    [Fact]
    public void Lookup_finds_the_largest_entry_at_or_below_the_timestamp()
    {
        using var index = Open();
        index.MaybeAppend(1000, 100);
        index.MaybeAppend(2000, 110);
        index.MaybeAppend(3000, 120);
        Assert.Null(index.Lookup(999));
        Assert.Equal((1000L, 100L), index.Lookup(1000));
        Assert.Equal((2000L, 110L), index.Lookup(2999));
        Assert.Equal((3000L, 120L), index.Lookup(long.MaxValue));
    }

    [Fact]
    public void Entries_are_twelve_bytes_and_survive_truncation_and_reopen()
    {
        using (var index = Open())
        {
            index.MaybeAppend(1, 101);
            index.MaybeAppend(2, 102);
            index.MaybeAppend(3, 103);
            index.TruncateTo(103);
        }
        var bytes = File.ReadAllBytes(_dir.Combine("x.timeindex"));
        Assert.Equal(24, bytes.Length);
        Assert.Equal(new byte[] { 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1 }, bytes[..12]);
        using var reopened = Open();
        Assert.Equal((2L, 102L), reopened.LastEntry);
        Assert.Null(reopened.FindInconsistency(103));
        Assert.Contains("outside", reopened.FindInconsistency(102));
    }

    [Fact]
    public void Unordered_entries_are_inconsistent()
    {
        File.WriteAllBytes(_dir.Combine("x.timeindex"), [0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 2]);
        using var index = Open();
        Assert.Contains("does not follow", index.FindInconsistency(1000));
    }
}
