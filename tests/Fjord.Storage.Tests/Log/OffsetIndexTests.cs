namespace Fjord.Storage.Tests.Log;

public sealed class OffsetIndexTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    public void Dispose() => _dir.Dispose();

    private OffsetIndex Open(long baseOffset = 100) => OffsetIndex.Open(_dir.Combine("x.index"), baseOffset);

    [Fact]
    public void Lookup_finds_the_largest_entry_at_or_below_the_target()
    {
        using var index = Open();
        index.Append(110, 1000);
        index.Append(120, 2000);
        index.Append(130, 3000);
        Assert.Equal((100L, 0), index.Lookup(99));
        Assert.Equal((100L, 0), index.Lookup(109));
        Assert.Equal((110L, 1000), index.Lookup(110));
        Assert.Equal((120L, 2000), index.Lookup(129));
        Assert.Equal((130L, 3000), index.Lookup(long.MaxValue));
        Assert.Equal((120L, 2000), index.Lookup(135, positionLimit: 3000));
        Assert.Equal((130L, 3000), index.LastEntry);
    }

    [Fact]
    public void Entries_must_ascend_and_fit_int32()
    {
        using var index = Open();
        index.Append(110, 1000);
        Assert.Throws<InvalidOperationException>(() => index.Append(110, 2000));
        Assert.Throws<InvalidOperationException>(() => index.Append(120, 1000));
        Assert.Throws<InvalidOperationException>(() => index.Append(99, 2000));
        Assert.Throws<InvalidOperationException>(() => index.Append(100 + (long)int.MaxValue + 1, 2000));
    }

    [Fact]
    public void Entries_are_eight_bytes_big_endian_and_survive_reopen()
    {
        using (var index = Open())
        {
            index.Append(101, 7);
            index.Append(102, 300);
        }
        var bytes = File.ReadAllBytes(_dir.Combine("x.index"));
        Assert.Equal(new byte[] { 0, 0, 0, 1, 0, 0, 0, 7, 0, 0, 0, 2, 0, 0, 1, 44 }, bytes);
        using var reopened = Open();
        Assert.False(reopened.WasMissing);
        Assert.Equal([(101L, 7), (102L, 300)], reopened.Entries);
        Assert.Null(reopened.FindInconsistency(301));
    }

    [Fact]
    public void Truncation_drops_entries_at_or_above_the_offset_in_memory_and_on_disk()
    {
        using (var index = Open())
        {
            for (int i = 1; i <= 10; i++) index.Append(100 + i * 10, i * 100);
            index.TruncateTo(150);
            Assert.Equal(4, index.Count);
            index.Append(150, 450);
        }
        using var reopened = Open();
        Assert.Equal(5, reopened.Count);
        Assert.Equal((150L, 450), reopened.LastEntry);
    }

    [Fact]
    public void Inconsistencies_are_found()
    {
        using (var index = Open()) { index.Append(105, 50); index.Append(110, 500); }
        using (var reopened = Open()) Assert.Contains("outside", reopened.FindInconsistency(400));

        File.WriteAllBytes(_dir.Combine("x.index"), [0, 0, 0, 5, 0, 0, 0, 50, 0, 0, 0, 4, 0, 0, 0, 60]);
        using (var unordered = Open()) Assert.Contains("does not follow", unordered.FindInconsistency(1000));

        File.WriteAllBytes(_dir.Combine("x.index"), [0, 0, 0, 5, 0, 0, 0, 50, 0, 0]);
        using (var torn = Open()) Assert.Contains("partial", torn.FindInconsistency(1000));
    }

    [Fact]
    public void Replace_rewrites_the_file()
    {
        using (var index = Open())
        {
            index.Append(105, 50);
            index.Replace([(101L, 10), (102L, 20), (103L, 30)]);
        }
        using var reopened = Open();
        Assert.Equal([(101L, 10), (102L, 20), (103L, 30)], reopened.Entries);
    }

    [Fact]
    public void A_missing_file_is_reported()
    {
        using var index = Open();
        Assert.True(index.WasMissing);
        Assert.Equal(0, index.Count);
    }
}
