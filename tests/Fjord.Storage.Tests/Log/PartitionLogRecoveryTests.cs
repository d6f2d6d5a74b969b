namespace Fjord.Storage.Tests.Log;

public sealed class PartitionLogRecoveryTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly FakeClock _clock = new();
    private readonly List<string> _lines = [];
    public void Dispose() => _dir.Dispose();

    private static readonly int BatchSize = Batches.Make(2).Length;
    private static LogConfig Config => Logs.SmallConfig(segmentBytes: BatchSize * 3, indexIntervalBytes: 1);

    private PartitionLog Open(LogOpenOptions options) => Logs.Open(_dir, Config, _clock, options with { Log = _lines.Add });

    /// <summary>12 batches of 2 records (offsets 0..23), epochs 1 then 2 from offset 12; 4 segments of 3 batches.</summary>
    private byte[] Populate()
    {
        var log = Open(new LogOpenOptions());
        for (int i = 0; i < 12; i++) log.AppendAsLeader(Batches.Make(2, timestamp: 100 * i), i < 6 ? 1 : 2);
        var all = log.Read(0, int.MaxValue, long.MaxValue).ToArray();
        log.Close();
        return all;
    }

    private string LogFile(long baseOffset) => SegmentFileNames.LogFile(_dir.Path, baseOffset);

    private void Corrupt(long segmentBase, int position)
    {
        var bytes = File.ReadAllBytes(LogFile(segmentBase));
        bytes[position] ^= 0x55;
        File.WriteAllBytes(LogFile(segmentBase), bytes);
    }

    [Fact]
    public void A_clean_reopen_preserves_everything()
    {
        var all = Populate();
        var log = Open(new LogOpenOptions(RecoveryPoint: 24, HadCleanShutdown: true));
        Assert.Equal((0L, 24L, 24L, 4), (log.LogStartOffset, log.LogEndOffset, log.RecoveryPoint, log.SegmentCount));
        Assert.Equal(all, log.Read(0, int.MaxValue, long.MaxValue).ToArray());
        Assert.Equal([new EpochEntry(1, 0), new EpochEntry(2, 12)], log.LeaderEpochs.Entries);
        Assert.Equal([201L, 501, 801, 1101], log.SegmentsSnapshot.Select(s => s.LargestTimestamp));
        Assert.Equal((16L, 800L), log.OffsetForTimestamp(702));
        Assert.Empty(_lines);
        log.Close();
    }

    [Fact]
    public void An_unclean_reopen_truncates_at_the_first_corrupt_batch_and_drops_later_segments()
    {
        var all = Populate();
        Corrupt(6, BatchSize + 70);
        var log = Open(new LogOpenOptions(RecoveryPoint: 6));
        Assert.Equal(8, log.LogEndOffset);
        Assert.Equal(2, log.SegmentCount);
        Assert.Equal(all[..(BatchSize * 4)], log.Read(0, int.MaxValue, long.MaxValue).ToArray());
        Assert.Equal([new EpochEntry(1, 0)], log.LeaderEpochs.Entries);
        var line = Assert.Single(_lines);
        Assert.Contains($"truncated {BatchSize * 2} bytes", line);
        Assert.Contains("deleted 2 later segment(s)", line);
        Assert.Equal(6, log.RecoveryPoint);
        log.AppendAsLeader(Batches.Make(1), 3);
        Assert.Equal(9, log.LogEndOffset);
        log.Close();
    }

    [Fact]
    public void Segments_below_the_recovery_point_are_not_scanned()
    {
        Populate();
        Corrupt(0, 70);
        var log = Open(new LogOpenOptions(RecoveryPoint: 18));
        Assert.Equal(24, log.LogEndOffset);
        Assert.Empty(_lines);
        log.Close();

        _lines.Clear();
        var rescanned = Open(new LogOpenOptions(RecoveryPoint: 0));
        Assert.Equal(0, rescanned.LogEndOffset);
        Assert.Contains("deleted 3 later segment(s)", Assert.Single(_lines));
        rescanned.Close();
    }

    [Fact]
    public void A_torn_tail_is_truncated_even_after_a_clean_shutdown()
    {
        var all = Populate();
        using (var stream = new FileStream(LogFile(18), FileMode.Append)) stream.Write(Batches.Make(5), 0, 30);
        var log = Open(new LogOpenOptions(RecoveryPoint: 24, HadCleanShutdown: true));
        Assert.Equal(24, log.LogEndOffset);
        Assert.Equal(all, log.Read(0, int.MaxValue, long.MaxValue).ToArray());
        Assert.Contains(_lines, l => l.Contains("truncated 30 bytes", StringComparison.Ordinal));
        log.Close();
    }

    [Fact]
    public void Missing_or_inconsistent_indexes_are_rebuilt()
    {
        var all = Populate();
        File.Delete(SegmentFileNames.OffsetIndexFile(_dir.Path, 6));
        File.WriteAllBytes(SegmentFileNames.TimeIndexFile(_dir.Path, 12), [1, 2, 3]);
        File.WriteAllBytes(SegmentFileNames.OffsetIndexFile(_dir.Path, 0), [0, 0, 0, 1, 0, 1, 0, 0]);
        var log = Open(new LogOpenOptions(RecoveryPoint: 24, HadCleanShutdown: true));
        Assert.Equal(3, _lines.Count(l => l.Contains("rebuilding the indexes", StringComparison.Ordinal)));
        Assert.Equal(all, log.Read(0, int.MaxValue, long.MaxValue).ToArray());
        Assert.Equal([(2L, BatchSize), (4L, BatchSize * 2)], log.SegmentsSnapshot[0].OffsetIndex.Entries);
        Assert.Equal((14L, 700L), log.OffsetForTimestamp(610));
        log.Close();
    }

    [Fact]
    public void The_epoch_checkpoint_is_cut_to_the_recovered_log()
    {
        Populate();
        File.Delete(LogFile(18));
        File.Delete(LogFile(12));
        var log = Open(new LogOpenOptions(RecoveryPoint: 24));
        Assert.Equal(12, log.LogEndOffset);
        Assert.Equal([new EpochEntry(1, 0)], log.LeaderEpochs.Entries);
        Assert.Equal("0\n1\n1 0\n", File.ReadAllText(_dir.Combine("leader-epoch-checkpoint")));
        log.Close();
    }

    [Fact]
    public void The_log_start_offset_comes_from_the_checkpoint_but_not_below_the_first_segment()
    {
        Populate();
        var log = Open(new LogOpenOptions(LogStartOffset: 7, HadCleanShutdown: true));
        Assert.Equal(7, log.LogStartOffset);
        Assert.Equal([new EpochEntry(1, 7), new EpochEntry(2, 12)], log.LeaderEpochs.Entries);
        log.Close();
        File.Delete(LogFile(0));
        var later = Open(new LogOpenOptions(LogStartOffset: 2, HadCleanShutdown: true));
        Assert.Equal(6, later.LogStartOffset);
        later.Close();
        var beyond = Open(new LogOpenOptions(LogStartOffset: 50, HadCleanShutdown: true));
        Assert.Equal((50L, 50L, 1), (beyond.LogStartOffset, beyond.LogEndOffset, beyond.SegmentCount));
        Assert.Contains(_lines, l => l.Contains("beyond the log end offset", StringComparison.Ordinal));
        beyond.Close();
    }

    [Fact]
    public void An_empty_directory_starts_at_the_given_log_start()
    {
        var log = Open(new LogOpenOptions(LogStartOffset: 42));
        Assert.Equal((42L, 42L), (log.LogStartOffset, log.LogEndOffset));
        Assert.Equal(42, log.SegmentsSnapshot[0].BaseOffset);
        log.Close();
    }

    [Fact]
    public void Leftover_temporary_and_deleted_files_are_removed()
    {
        var all = Populate();
        File.WriteAllText(SegmentFileNames.OffsetIndexFile(_dir.Path, 0) + ".tmp", "x");
        File.WriteAllText(_dir.Combine("leader-epoch-checkpoint.tmp"), "x");
        File.WriteAllBytes(SegmentFileNames.LogFile(_dir.Path, 30, ".deleted"), [1]);
        File.WriteAllBytes(SegmentFileNames.OffsetIndexFile(_dir.Path, 30, ".deleted"), [1]);
        File.WriteAllBytes(SegmentFileNames.OffsetIndexFile(_dir.Path, 40), [1]);
        File.WriteAllText(_dir.Combine("00000000000000000005-0000000001.checkpoint.deleted"), "raft snapshot");
        var log = Open(new LogOpenOptions(HadCleanShutdown: true));
        Assert.Equal(all, log.Read(0, int.MaxValue, long.MaxValue).ToArray());
        Assert.DoesNotContain(_dir.FileNames(), n => n.EndsWith(".tmp", StringComparison.Ordinal) || n.Contains("00000000000000000030") || n.Contains("00000000000000000040"));
        Assert.Contains("00000000000000000005-0000000001.checkpoint.deleted", _dir.FileNames());
        log.Close();
    }
}
