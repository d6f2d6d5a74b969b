using Fjord.Protocol.Compression;

namespace Fjord.Storage.Tests.Log;

public sealed class LogSegmentTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    public void Dispose() => _dir.Dispose();

    private LogSegment Create(long baseOffset = 0, int indexInterval = 0) => LogSegment.Create(_dir.Path, baseOffset, indexInterval);

    /// <summary>Appends <paramref name="count"/> single-batch appends of 3 records each from <paramref name="start"/>.</summary>
    private static List<byte[]> Fill(LogSegment segment, int count, long start = 0, long timestamp = 1000)
    {
        var batches = new List<byte[]>();
        for (int i = 0; i < count; i++)
        {
            var batch = Batches.Make(3, start + i * 3, timestamp + i * 10);
            segment.Append(batch);
            batches.Add(batch);
        }
        return batches;
    }

    [Fact]
    public void Files_are_named_after_the_base_offset()
    {
        using var segment = Create(1234);
        Assert.Equal(["00000000000000001234.index", "00000000000000001234.log", "00000000000000001234.timeindex"], _dir.FileNames());
        Assert.Equal(1234, segment.NextOffset);
        Assert.True(segment.IsEmpty);
        Assert.Throws<StorageException>(() => LogSegment.Create(_dir.Path, 1234, 0));
    }

    [Fact]
    public void Appended_bytes_are_stored_exactly_and_read_back_whole()
    {
        using var segment = Create();
        var batches = Fill(segment, 5);
        Assert.Equal(Batches.Concat([.. batches]), File.ReadAllBytes(segment.LogPath));
        Assert.Equal(15, segment.NextOffset);
        Assert.Equal(1042, segment.LargestTimestamp);
        Assert.Equal(12, segment.OffsetOfLargestTimestamp);

        var slice = segment.Read(4, int.MaxValue, long.MaxValue, false)!.Value;
        Assert.Equal(3, slice.FirstBatchOffset);
        Assert.Equal(14, slice.LastOffset);
        Assert.True(slice.ReachedSegmentEnd);
        Assert.Equal(Batches.Concat([.. batches.Skip(1)]), slice.Region.ToArray());
        Assert.Null(segment.Read(15, int.MaxValue, long.MaxValue, false));
    }

    [Fact]
    public void Reads_stop_at_the_byte_budget_and_the_offset_bound()
    {
        using var segment = Create();
        var batches = Fill(segment, 5);
        int size = batches[0].Length;

        var budget = segment.Read(0, size * 2 + size / 2, long.MaxValue, false)!.Value;
        Assert.Equal(size * 2, budget.Region.Length);
        Assert.False(budget.ReachedSegmentEnd);

        var bounded = segment.Read(0, int.MaxValue, 8, false)!.Value;
        Assert.Equal(5, bounded.LastOffset);
        Assert.Equal(size * 2, bounded.Region.Length);

        var blocked = segment.Read(0, int.MaxValue, 2, false)!.Value;
        Assert.True(blocked.IsEmpty);

        var tooSmall = segment.Read(3, 10, long.MaxValue, false)!.Value;
        Assert.True(tooSmall.IsEmpty);
        var oversized = segment.Read(3, 10, long.MaxValue, true)!.Value;
        Assert.Equal(size, oversized.Region.Length);
        Assert.Equal(3, oversized.FirstBatchOffset);
    }

    [Fact]
    public void Index_entries_are_added_every_interval()
    {
        using var segment = Create(indexInterval: 1);
        var batches = Fill(segment, 4);
        int size = batches[0].Length;
        Assert.Equal([(3L, size), (6L, 2 * size), (9L, 3 * size)], segment.OffsetIndex.Entries);
        Assert.Equal([(1012L, 3L), (1022L, 6L), (1032L, 9L)], segment.TimeIndex.Entries);

        using var sparse = LogSegment.Create(_dir.Path, 100, 4096);
        for (int i = 0; i < 200; i++) sparse.Append(Batches.Make(1, 100 + i, 5000 + i, valueBytes: 100));
        int count = sparse.OffsetIndex.Count;
        Assert.InRange(count, sparse.Size / 4300, sparse.Size / 4096);
    }

    [Fact]
    public void Appends_must_continue_the_offsets()
    {
        using var segment = Create(10);
        Assert.Throws<StorageException>(() => segment.Append(Batches.Make(1, 9)));
        segment.Append(Batches.Make(2, 10));
        Assert.Throws<StorageException>(() => segment.Append(Batches.Make(1, 11)));
        segment.Append(Batches.Make(1, 20));
        Assert.Equal(21, segment.NextOffset);
        Assert.Throws<StorageException>(() => segment.Append(Batches.Make(1, 10 + (long)int.MaxValue + 1)));
        Assert.Throws<ArgumentException>(() => segment.Append(Batches.Make(1, 30)[..40]));
        Assert.Throws<ArgumentException>(() => segment.Append(Batches.Make(1, 30), 30, 31, 1000));
        segment.Append(Batches.Make(2, 30, 7000), 30, 31, 7001);
    }

    [Fact]
    public void Truncation_drops_whole_batches_and_their_index_entries()
    {
        using var segment = Create(indexInterval: 1);
        var batches = Fill(segment, 5);
        int size = batches[0].Length;
        Assert.Equal(size * 3, segment.TruncateTo(7));
        Assert.Equal(6, segment.NextOffset);
        Assert.Equal(size * 2, segment.Size);
        Assert.Equal(size * 2, new FileInfo(segment.LogPath).Length);
        Assert.Equal([(3L, size)], segment.OffsetIndex.Entries);
        Assert.Equal(1012, segment.LargestTimestamp);
        Assert.Equal(0, segment.TruncateTo(6));
        segment.Append(Batches.Make(1, 6, 500));
        Assert.Equal(7, segment.NextOffset);
        Assert.Equal(1012, segment.LargestTimestamp);
    }

    [Fact]
    public void Truncation_into_a_gap_ends_at_the_last_batch_kept()
    {
        using var segment = Create();
        segment.Append(Batches.Make(2, 0));
        segment.Append(Batches.Make(2, 10));
        Assert.Equal(segment.Size / 2, segment.TruncateTo(5));
        Assert.Equal(2, segment.NextOffset);
        Assert.Equal(0, segment.TruncateTo(3));
        Assert.Equal(2, segment.NextOffset);
        Assert.Equal(segment.Size, segment.TruncateTo(1));
        Assert.Equal(0, segment.NextOffset);
        Assert.True(segment.IsEmpty);
    }

    [Fact]
    public void Recovery_keeps_valid_batches_and_rebuilds_identical_indexes()
    {
        IReadOnlyList<(long, int)> offsets;
        IReadOnlyList<(long, long)> times;
        using (var segment = Create(indexInterval: 100))
        {
            Fill(segment, 50);
            offsets = segment.OffsetIndex.Entries;
            times = segment.TimeIndex.Entries;
        }
        File.Delete(SegmentFileNames.OffsetIndexFile(_dir.Path, 0));
        using var reopened = LogSegment.Open(_dir.Path, 0, 100);
        Assert.Contains("missing", reopened.LoadAndCheck());
        Assert.Equal(0, reopened.Recover());
        Assert.Equal(offsets, reopened.OffsetIndex.Entries);
        Assert.Equal(times, reopened.TimeIndex.Entries);
        Assert.Equal(150, reopened.NextOffset);
        Assert.Equal(1492, reopened.LargestTimestamp);
    }

    [Fact]
    public void Recovery_truncates_at_the_first_corrupt_batch()
    {
        int size;
        using (var segment = Create())
        {
            size = Fill(segment, 10)[0].Length;
        }
        var path = SegmentFileNames.LogFile(_dir.Path, 0);
        var bytes = File.ReadAllBytes(path);
        bytes[size * 6 + 70] ^= 0xFF;
        File.WriteAllBytes(path, bytes);
        using var reopened = LogSegment.Open(_dir.Path, 0, 0);
        var epochs = new LeaderEpochCache(null, () => 0);
        Assert.Equal(size * 4, reopened.Recover(epochs, out var problem));
        Assert.Contains("Crc", problem);
        Assert.Equal(18, reopened.NextOffset);
        Assert.Equal(size * 6, new FileInfo(path).Length);
    }

    [Theory]
    [InlineData(5)]
    [InlineData(13)]
    [InlineData(80)]
    public void Recovery_truncates_a_torn_tail(int tailBytes)
    {
        int size;
        using (var segment = Create()) size = Fill(segment, 3)[0].Length;
        var path = SegmentFileNames.LogFile(_dir.Path, 0);
        var extra = Batches.Make(5, 9, valueBytes: 100);
        using (var stream = new FileStream(path, FileMode.Append)) stream.Write(extra, 0, tailBytes);
        using var reopened = LogSegment.Open(_dir.Path, 0, 0);
        Assert.NotNull(reopened.LoadAndCheck());
        Assert.Equal(tailBytes, reopened.Recover());
        Assert.Equal(size * 3, reopened.Size);
        Assert.Equal(9, reopened.NextOffset);
    }

    [Fact]
    public void Recovery_rejects_offsets_that_go_backwards_and_assigns_epochs()
    {
        var path = SegmentFileNames.LogFile(_dir.Path, 0);
        File.WriteAllBytes(path, Batches.Concat(Batches.Make(2, 0, epoch: 1), Batches.Make(2, 2, epoch: 3), Batches.Make(2, 1, epoch: 4)));
        using var segment = LogSegment.Open(_dir.Path, 0, 0);
        var epochs = new LeaderEpochCache(null, () => 0);
        Assert.True(segment.Recover(epochs, out var problem) > 0);
        Assert.Contains("BaseOffset", problem);
        Assert.Equal(4, segment.NextOffset);
        Assert.Equal([new EpochEntry(1, 0), new EpochEntry(3, 2)], epochs.Entries);
    }

    [Fact]
    public void Recovery_handles_batches_larger_than_its_read_chunk()
    {
        using (var segment = Create())
        {
            segment.Append(Batches.Make(1, 0));
            segment.Append(Batches.Make(3, 1, valueBytes: 700_000));
            segment.Append(Batches.Make(1, 4));
        }
        using var reopened = LogSegment.Open(_dir.Path, 0, 0);
        Assert.Equal(0, reopened.Recover());
        Assert.Equal(5, reopened.NextOffset);
    }

    [Fact]
    public void LoadAndCheck_trusts_a_clean_segment_and_finds_its_tail()
    {
        using (var segment = Create(indexInterval: 200))
        {
            Fill(segment, 20);
            segment.OnBecomeInactive();
        }
        using var reopened = LogSegment.Open(_dir.Path, 0, 200);
        Assert.Null(reopened.LoadAndCheck());
        Assert.Equal(60, reopened.NextOffset);
        Assert.Equal(1192, reopened.LargestTimestamp);
        Assert.Equal(57, reopened.OffsetOfLargestTimestamp);
    }

    [Fact]
    public void LoadAndCheck_detects_an_index_pointing_past_the_log()
    {
        using (var segment = Create(indexInterval: 1)) Fill(segment, 5);
        var path = SegmentFileNames.LogFile(_dir.Path, 0);
        using (var stream = new FileStream(path, FileMode.Open)) stream.SetLength(stream.Length / 2);
        using var reopened = LogSegment.Open(_dir.Path, 0, 1);
        Assert.NotNull(reopened.LoadAndCheck());
    }

    [Fact]
    public void FindOffsetByTimestamp_returns_the_first_record_at_or_after_the_time()
    {
        using var segment = Create(indexInterval: 1);
        segment.Append(Batches.Make(5, 0, timestamp: 1000, timestampStep: 10));
        segment.Append(Batches.Make(5, 5, timestamp: 2000, timestampStep: 10, compression: CompressionType.Gzip));
        segment.Append(Batches.Make(5, 10, timestamp: 1500, timestampStep: 1));
        Assert.Equal((0L, 1000L), segment.FindOffsetByTimestamp(0, 0));
        Assert.Equal((2L, 1020L), segment.FindOffsetByTimestamp(1015, 0));
        Assert.Equal((5L, 2000L), segment.FindOffsetByTimestamp(1041, 0));
        Assert.Equal((7L, 2020L), segment.FindOffsetByTimestamp(2011, 0));
        Assert.Equal((7L, 2020L), segment.FindOffsetByTimestamp(1000, 7));
        Assert.Null(segment.FindOffsetByTimestamp(2041, 0));
    }

    [Fact]
    public void Markers_rename_all_three_files()
    {
        using var segment = LogSegment.Create(_dir.Path, 5, 0, SegmentFileNames.CleanedSuffix);
        segment.Append(Batches.Make(1, 5));
        segment.ChangeMarker(SegmentFileNames.SwapSuffix);
        Assert.Equal(["00000000000000000005.index.swap", "00000000000000000005.log.swap", "00000000000000000005.timeindex.swap"], _dir.FileNames());
        segment.ChangeMarker("");
        Assert.Equal(["00000000000000000005.index", "00000000000000000005.log", "00000000000000000005.timeindex"], _dir.FileNames());
        segment.Append(Batches.Make(1, 6));
        segment.DeleteFiles();
        Assert.Empty(_dir.FileNames());
    }
}
