namespace Fjord.Storage.Tests.Log;

public sealed class PartitionLogTruncationTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly FakeClock _clock = new();
    public void Dispose() => _dir.Dispose();

    /// <summary>Batches of 2 records in epochs 1 (offsets 0..9) and 3 (10..19), 2 batches a segment.</summary>
    private PartitionLog TwoEpochs()
    {
        int batchSize = Batches.Make(2).Length;
        var log = Logs.Open(_dir, Logs.SmallConfig(segmentBytes: batchSize * 2, indexIntervalBytes: 1), _clock);
        for (int i = 0; i < 5; i++) log.AppendAsLeader(Batches.Make(2), 1);
        for (int i = 0; i < 5; i++) log.AppendAsLeader(Batches.Make(2), 3);
        return log;
    }

    [Fact]
    public void Truncate_drops_batches_segments_and_epochs_at_or_after_the_offset()
    {
        var log = TwoEpochs();
        Assert.Equal(5, log.SegmentCount);
        log.Truncate(9);
        Assert.Equal(8, log.LogEndOffset);
        Assert.Equal([0L, 4, 8], log.SegmentsSnapshot.Select(s => s.BaseOffset));
        Assert.Equal([new EpochEntry(1, 0)], log.LeaderEpochs.Entries);
        Assert.Equal(8, Batches.Headers(log.Read(0, int.MaxValue, long.MaxValue).ToArray()).Last().LastOffset + 1);
        Assert.Equal(["00000000000000000000", "00000000000000000004", "00000000000000000008"],
            _dir.FileNames().Where(n => n.EndsWith(".log", StringComparison.Ordinal)).Select(n => n[..20]));

        log.AppendAsLeader(Batches.Make(1), 4);
        Assert.Equal([new EpochEntry(1, 0), new EpochEntry(4, 8)], log.LeaderEpochs.Entries);
        Assert.Equal(9, log.LogEndOffset);
        log.Truncate(100);
        Assert.Equal(9, log.LogEndOffset);
        log.Close();
    }

    [Fact]
    public void Truncate_lowers_the_recovery_point_and_survives_reopen()
    {
        var log = TwoEpochs();
        log.Flush();
        log.Truncate(12);
        Assert.Equal(12, log.RecoveryPoint);
        log.Close();
        var reopened = Logs.Open(_dir, Logs.SmallConfig(segmentBytes: 200, indexIntervalBytes: 1), _clock, new LogOpenOptions(RecoveryPoint: 12));
        Assert.Equal(12, reopened.LogEndOffset);
        Assert.Equal([new EpochEntry(1, 0), new EpochEntry(3, 10)], reopened.LeaderEpochs.Entries);
        reopened.Close();
    }

    [Fact]
    public void Truncate_below_the_first_segment_empties_the_log()
    {
        var log = TwoEpochs();
        log.AdvanceLogStartOffset(8);
        log.Truncate(3);
        Assert.Equal((3L, 3L, 1), (log.LogStartOffset, log.LogEndOffset, log.SegmentCount));
        Assert.Empty(log.LeaderEpochs.Entries);
        log.Close();
    }

    [Fact]
    public void TruncateFullyAndStartAt_replaces_everything()
    {
        var log = TwoEpochs();
        log.TruncateFullyAndStartAt(0);
        Assert.Equal((0L, 0L, 0L, 1), (log.LogStartOffset, log.LogEndOffset, log.RecoveryPoint, log.SegmentCount));
        Assert.True(log.Read(0, 1000, long.MaxValue).IsEmpty);
        log.TruncateFullyAndStartAt(1000);
        Assert.Equal((1000L, 1000L), (log.LogStartOffset, log.LogEndOffset));
        Assert.Equal(1000, log.AppendAsLeader(Batches.Make(1), 7).FirstOffset);
        Assert.Equal(["00000000000000001000.index", "00000000000000001000.log", "00000000000000001000.timeindex", "leader-epoch-checkpoint"], _dir.FileNames());
        log.Close();
    }

    [Fact]
    public void AdvanceLogStartOffset_only_moves_forward_and_deletes_whole_segments()
    {
        var log = TwoEpochs();
        Assert.True(log.AdvanceLogStartOffset(9));
        Assert.Equal(9, log.LogStartOffset);
        Assert.Equal([8L, 12, 16], log.SegmentsSnapshot.Select(s => s.BaseOffset));
        Assert.Equal([new EpochEntry(1, 9), new EpochEntry(3, 10)], log.LeaderEpochs.Entries);
        Assert.False(log.AdvanceLogStartOffset(9));
        Assert.False(log.AdvanceLogStartOffset(2));
        Assert.Throws<OffsetOutOfRangeException>(() => log.AdvanceLogStartOffset(21));
        Assert.True(log.AdvanceLogStartOffset(20));
        Assert.Equal([16L], log.SegmentsSnapshot.Select(s => s.BaseOffset));
        Assert.True(log.Read(20, 100, long.MaxValue).IsEmpty);
        log.Close();
        var reopened = Logs.Open(_dir, clock: _clock, options: new LogOpenOptions(LogStartOffset: 20, HadCleanShutdown: true));
        Assert.Equal((20L, 20L), (reopened.LogStartOffset, reopened.LogEndOffset));
        reopened.Close();
    }

    [Fact]
    public void Truncations_are_logged()
    {
        var lines = new List<string>();
        var log = Logs.Open(_dir, Logs.SmallConfig(segmentBytes: 200), _clock, new LogOpenOptions(Log: lines.Add));
        for (int i = 0; i < 6; i++) log.AppendAsLeader(Batches.Make(2), 0);
        log.Truncate(7);
        Assert.Contains("truncated to offset 6 (asked 7)", Assert.Single(lines));
        log.TruncateFullyAndStartAt(3);
        Assert.Contains("restarted at offset 3", lines[^1]);
        log.Close();
    }

    [Fact]
    public void Truncation_lowers_the_cleaner_checkpoint()
    {
        var log = TwoEpochs();
        CleanerCheckpoint.Write(_dir.Path, 16);
        log.Truncate(12);
        Assert.Equal(12, CleanerCheckpoint.Read(_dir.Path));
        log.Truncate(14);
        Assert.Equal(12, CleanerCheckpoint.Read(_dir.Path));
        log.TruncateFullyAndStartAt(5);
        Assert.Equal(5, CleanerCheckpoint.Read(_dir.Path));
        log.Close();
    }

    [Fact]
    public void Delete_removes_the_directory()
    {
        var log = TwoEpochs();
        log.Delete();
        Assert.False(Directory.Exists(_dir.Path));
        Assert.True(log.IsClosed);
    }
}
