namespace Fjord.Storage.Tests.Log;

public sealed class PartitionLogReadTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly FakeClock _clock = new();
    public void Dispose() => _dir.Dispose();

    /// <summary>A log of 10 batches of 2 records (offsets 0..19), 3 batches a segment.</summary>
    private (PartitionLog Log, List<byte[]> Stored) TenBatches(long fileDeleteDelayMs = 0)
    {
        int batchSize = Batches.Make(2).Length;
        var log = Logs.Open(_dir, Logs.SmallConfig(segmentBytes: batchSize * 3, indexIntervalBytes: 1) with { FileDeleteDelayMs = fileDeleteDelayMs }, _clock);
        for (int i = 0; i < 10; i++) log.AppendAsLeader(Batches.Make(2, timestamp: 1000 + i * 100), 0);
        var stored = new List<byte[]>();
        for (long offset = 0; offset < 20; offset += 2) stored.Add(log.Read(offset, 1, long.MaxValue).ToArray());
        return (log, stored);
    }

    [Fact]
    public void Reads_cross_segments_and_return_whole_batches()
    {
        var (log, stored) = TenBatches();
        Assert.Equal(4, log.SegmentCount);
        var all = log.Read(0, int.MaxValue, long.MaxValue);
        Assert.Equal(4, all.Regions.Count);
        Assert.Equal(Batches.Concat([.. stored]), all.ToArray());
        Assert.Equal(0, all.FirstBatchOffset);
        Assert.Equal((0L, 20L), (all.LogStartOffset, all.LogEndOffset));

        var middle = log.Read(7, int.MaxValue, long.MaxValue);
        Assert.Equal(6, middle.FirstBatchOffset);
        Assert.Equal(Batches.Concat([.. stored.Skip(3)]), middle.ToArray());
        log.Close();
    }

    [Fact]
    public void Reads_respect_the_byte_budget_and_the_bound()
    {
        var (log, stored) = TenBatches();
        int size = stored[0].Length;
        var budget = log.Read(2, size * 4 + 1, long.MaxValue);
        Assert.Equal(Batches.Concat([.. stored.Skip(1).Take(4)]), budget.ToArray());

        var bounded = log.Read(2, int.MaxValue, 9);
        Assert.Equal(Batches.Concat([.. stored.Skip(1).Take(3)]), bounded.ToArray());

        var atBound = log.Read(8, int.MaxValue, 9);
        Assert.True(atBound.IsEmpty);
        Assert.Equal(-1, atBound.FirstBatchOffset);

        var oversized = log.Read(4, 1, long.MaxValue);
        Assert.Equal(stored[2], oversized.ToArray());
        Assert.True(log.Read(4, 1, long.MaxValue, minOneBatch: false).IsEmpty);
        log.Close();
    }

    [Fact]
    public void Reads_outside_the_log_throw_offset_out_of_range()
    {
        var (log, _) = TenBatches();
        Assert.True(log.Read(20, 100, long.MaxValue).IsEmpty);
        var e = Assert.Throws<OffsetOutOfRangeException>(() => log.Read(21, 100, long.MaxValue));
        Assert.Equal((21L, 0L, 20L), (e.Offset, e.LogStartOffset, e.LogEndOffset));
        log.AdvanceLogStartOffset(5);
        Assert.Throws<OffsetOutOfRangeException>(() => log.Read(4, 100, long.MaxValue));
        Assert.Equal(4, log.Read(5, 100, long.MaxValue).FirstBatchOffset);
        log.Close();
    }

    [Fact]
    public void A_region_stays_readable_until_file_delete_delay_passes()
    {
        var (log, stored) = TenBatches(fileDeleteDelayMs: 1000);
        var held = log.Read(0, int.MaxValue, 6);
        Assert.True(log.AdvanceLogStartOffset(12));
        Assert.Equal(2, log.SegmentCount);
        Assert.Contains(_dir.FileNames(), n => n.EndsWith(".log.deleted", StringComparison.Ordinal));
        Assert.Equal(Batches.Concat([.. stored.Take(3)]), held.ToArray());

        _clock.Advance(1000);
        Assert.Equal(2, log.DeletePendingSegments());
        Assert.DoesNotContain(_dir.FileNames(), n => n.EndsWith(".deleted", StringComparison.Ordinal));
        Assert.ThrowsAny<ObjectDisposedException>(() => held.ToArray());
        log.Close();
    }

    [Fact]
    public void OffsetForTimestamp_finds_the_first_record_at_or_after_the_time()
    {
        var (log, _) = TenBatches();
        Assert.Equal((0L, 1000L), log.OffsetForTimestamp(0));
        Assert.Equal((1L, 1001L), log.OffsetForTimestamp(1001));
        Assert.Equal((8L, 1400L), log.OffsetForTimestamp(1302));
        Assert.Equal((19L, 1901L), log.OffsetForTimestamp(1901));
        Assert.Null(log.OffsetForTimestamp(1902));
        log.AdvanceLogStartOffset(9);
        Assert.Equal((9L, 1401L), log.OffsetForTimestamp(0));
        Assert.Equal((19L, 1901L), log.OffsetOfMaxTimestamp());
        Assert.Equal((9L, -1L), log.EarliestOffset());
        Assert.Equal((20L, -1L), log.LatestOffset());
        log.Close();
    }

    [Fact]
    public void The_max_timestamp_may_be_in_an_older_segment()
    {
        var log = Logs.Open(_dir, Logs.SmallConfig(segmentBytes: 200), _clock);
        log.AppendAsLeader(Batches.Make(2, timestamp: 5000), 0);
        log.AppendAsLeader(Batches.Make(2, timestamp: 100), 0);
        log.AppendAsLeader(Batches.Make(2, timestamp: 200), 0);
        Assert.True(log.SegmentCount > 1);
        Assert.Equal((1L, 5001L), log.OffsetOfMaxTimestamp());
        Assert.Equal((0L, 5000L), log.OffsetForTimestamp(300));
        Assert.Equal((1L, 5001L), log.OffsetForTimestamp(5001));
        log.Close();
    }

    [Fact]
    public async Task Concurrent_readers_see_whole_batches_only()
    {
        var log = Logs.Open(_dir, Logs.SmallConfig(segmentBytes: 4000, indexIntervalBytes: 100), _clock);
        using var done = new CancellationTokenSource();
        var failures = new List<string>();
        var readers = Enumerable.Range(0, 2).Select(_ => Task.Run(() =>
        {
            while (!done.IsCancellationRequested)
            {
                long end = log.LogEndOffset;
                var bytes = log.Read(0, int.MaxValue, end).ToArray();
                long expected = 0;
                foreach (var (baseOffset, lastOffset, _) in Batches.Headers(bytes))
                {
                    if (baseOffset != expected) lock (failures) failures.Add($"batch {baseOffset}, expected {expected}");
                    expected = lastOffset + 1;
                }
                if (expected > end) lock (failures) failures.Add($"read past {end}");
            }
        })).ToArray();
        for (int i = 0; i < 300; i++) log.AppendAsLeader(Batches.Make(1 + i % 4, valueBytes: i % 50), 0);
        done.Cancel();
        await Task.WhenAll(readers);
        Assert.Empty(failures);
        log.Close();
    }

    [Fact]
    public async Task Reads_racing_truncation_are_retried_not_failed()
    {
        var log = Logs.Open(_dir, Logs.SmallConfig(segmentBytes: 3000, indexIntervalBytes: 50), _clock);
        for (int i = 0; i < 40; i++) log.AppendAsLeader(Batches.Make(3, valueBytes: 40), 0);
        using var done = new CancellationTokenSource();
        var failures = new List<Exception>();
        var reader = Task.Run(() =>
        {
            while (!done.IsCancellationRequested)
            {
                try
                {
                    var result = log.Read(0, int.MaxValue, long.MaxValue);
                    Assert.True(result.FirstBatchOffset is 0 or -1);
                }
                catch (Exception e)
                {
                    lock (failures) failures.Add(e);
                }
            }
        });
        for (int round = 0; round < 600; round++)
        {
            log.Truncate(3 * (round % 30));
            while (log.LogEndOffset < 120) log.AppendAsLeader(Batches.Make(3, valueBytes: 40), 0);
        }
        done.Cancel();
        await reader;
        Assert.Empty(failures);
        log.Close();
    }
}
