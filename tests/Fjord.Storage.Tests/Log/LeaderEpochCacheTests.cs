namespace Fjord.Storage.Tests.Log;

public sealed class LeaderEpochCacheTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    private long _logEnd = 100;
    public void Dispose() => _dir.Dispose();

    private LeaderEpochCache Load() => LeaderEpochCache.Load(_dir.Path, () => _logEnd);
    private string CheckpointText => File.ReadAllText(_dir.Combine("leader-epoch-checkpoint"));

    [Fact]
    public void Assign_appends_newer_epochs_and_persists_in_kafkas_format()
    {
        var cache = Load();
        Assert.Equal(LeaderEpochCache.UndefinedEpoch, cache.LatestEpoch);
        cache.Assign(1, 0);
        cache.Assign(1, 5);
        cache.Assign(3, 20);
        Assert.Equal([new EpochEntry(1, 0), new EpochEntry(3, 20)], cache.Entries);
        Assert.Equal(3, cache.LatestEpoch);
        Assert.Equal("0\n2\n1 0\n3 20\n", CheckpointText);
        Assert.Equal(cache.Entries, Load().Entries);
    }

    [Fact]
    public void Assign_drops_entries_that_would_break_monotonicity()
    {
        var cache = Load();
        cache.Assign(1, 0);
        cache.Assign(2, 10);
        cache.Assign(3, 20);
        cache.Assign(2, 15);
        Assert.Equal([new EpochEntry(1, 0), new EpochEntry(2, 15)], cache.Entries);
        cache.Assign(2, 12);
        Assert.Equal([new EpochEntry(1, 0), new EpochEntry(2, 12)], cache.Entries);
        Assert.Throws<ArgumentOutOfRangeException>(() => cache.Assign(-1, 0));
    }

    [Fact]
    public void EndOffsetFor_follows_kafka()
    {
        var cache = Load();
        Assert.Equal((-1, -1L), cache.EndOffsetFor(0));
        cache.Assign(2, 10);
        cache.Assign(4, 30);
        cache.Assign(6, 50);
        Assert.Equal((6, 100L), cache.EndOffsetFor(6));
        Assert.Equal((4, 50L), cache.EndOffsetFor(4));
        Assert.Equal((4, 50L), cache.EndOffsetFor(5));
        Assert.Equal((2, 30L), cache.EndOffsetFor(3));
        Assert.Equal((1, 10L), cache.EndOffsetFor(1));
        Assert.Equal((-1, -1L), cache.EndOffsetFor(7));
        Assert.Equal((-1, -1L), cache.EndOffsetFor(LeaderEpochCache.UndefinedEpoch));
        _logEnd = 77;
        Assert.Equal((6, 77L), cache.EndOffsetFor(6));
        Assert.Equal((6, 60L), cache.EndOffsetFor(6, 60));
    }

    [Fact]
    public void EpochForOffset_finds_the_epoch_holding_an_offset()
    {
        var cache = Load();
        cache.Assign(2, 10);
        cache.Assign(4, 30);
        Assert.Null(cache.EpochForOffset(9));
        Assert.Equal(2, cache.EpochForOffset(10));
        Assert.Equal(2, cache.EpochForOffset(29));
        Assert.Equal(4, cache.EpochForOffset(1000));
    }

    [Fact]
    public void TruncateFromEnd_drops_entries_starting_at_or_after_the_offset()
    {
        var cache = Load();
        cache.Assign(1, 0);
        cache.Assign(2, 10);
        cache.Assign(3, 20);
        cache.TruncateFromEnd(20);
        Assert.Equal([new EpochEntry(1, 0), new EpochEntry(2, 10)], cache.Entries);
        cache.TruncateFromEnd(5);
        Assert.Equal([new EpochEntry(1, 0)], cache.Entries);
        Assert.Equal("0\n1\n1 0\n", CheckpointText);
    }

    [Fact]
    public void TruncateFromStart_keeps_the_epoch_holding_the_new_start()
    {
        var cache = Load();
        cache.Assign(1, 0);
        cache.Assign(2, 10);
        cache.Assign(3, 20);
        cache.TruncateFromStart(15);
        Assert.Equal([new EpochEntry(2, 15), new EpochEntry(3, 20)], cache.Entries);
        cache.TruncateFromStart(20);
        Assert.Equal([new EpochEntry(3, 20)], cache.Entries);
        cache.TruncateFromStart(5);
        Assert.Equal([new EpochEntry(3, 20)], cache.Entries);
        Assert.Equal("0\n1\n3 20\n", CheckpointText);
    }

    [Fact]
    public void Clear_empties_the_checkpoint()
    {
        var cache = Load();
        cache.Assign(1, 0);
        cache.Clear();
        Assert.Empty(cache.Entries);
        Assert.Equal("0\n0\n", CheckpointText);
    }

    [Theory]
    [InlineData("1\n0\n")]
    [InlineData("0\n2\n1 0\n")]
    [InlineData("0\n1\n1\n")]
    [InlineData("0\n1\nx 5\n")]
    [InlineData("")]
    public void A_malformed_checkpoint_names_the_file(string text)
    {
        File.WriteAllText(_dir.Combine("leader-epoch-checkpoint"), text);
        var e = Assert.Throws<StorageException>(Load);
        Assert.Contains("leader-epoch-checkpoint", e.Message);
    }

    [Fact]
    public void A_loaded_checkpoint_is_made_monotonic()
    {
        File.WriteAllText(_dir.Combine("leader-epoch-checkpoint"), "0\n3\n1 0\n3 20\n2 30\n");
        Assert.Equal([new EpochEntry(1, 0), new EpochEntry(2, 30)], Load().Entries);
    }
}
