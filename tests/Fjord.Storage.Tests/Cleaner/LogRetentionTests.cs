namespace Fjord.Storage.Tests.Cleaner;

public class LogRetentionTests
{
    private static readonly LogConfig DeleteConfig = new() { RetentionMs = 10_000, FileDeleteDelayMs = 0 };

    /// <summary>One segment per batch: each append is followed by a roll.</summary>
    private static void AppendSegments(CleanerTestLog t, int count, long timestampMs, int recordsPerBatch = 3)
    {
        for (int i = 0; i < count; i++)
        {
            t.Append(Enumerable.Range(0, recordsPerBatch).Select(j => ((string?)$"k{j}", (string?)new string('v', 50))), timestampMs);
            t.Log.Roll();
        }
    }

    [Fact]
    public void Time_retention_deletes_closed_segments_older_than_retention_ms()
    {
        using var t = new CleanerTestLog(DeleteConfig);
        long now = t.Clock.UnixTimeMs;
        AppendSegments(t, 3, now - 20_000);                  // too old
        AppendSegments(t, 1, now - 10_000);                  // exactly retention.ms old: kept (Kafka: age > retention.ms)
        AppendSegments(t, 2, now - 1_000);
        Assert.Equal(7, t.Segments.Count);                   // 6 closed + empty active

        var result = LogRetention.Apply(t.Log, t.Log.LogEndOffset, now);

        Assert.Equal((3, 0, 0), (result.DeletedByTime, result.DeletedBySize, result.DeletedBelowLogStart));
        Assert.True(result.BytesDeleted > 0);
        Assert.Equal(9, t.Log.LogStartOffset);
        Assert.Equal(9, result.LogStartOffset);
        Assert.Equal(4, t.Segments.Count);
        Assert.Equal(9, t.ReadAll()[0].Offset);
        Assert.Contains("retention.ms: 3", result.ToString());
    }

    [Fact]
    public void The_active_segment_is_never_deleted_however_old()
    {
        using var t = new CleanerTestLog(DeleteConfig with { RetentionBytes = 0 });
        long now = t.Clock.UnixTimeMs;
        AppendSegments(t, 2, now - 50_000);
        t.Append([("k", "in the active segment")], now - 50_000);

        var result = LogRetention.Apply(t.Log, t.Log.LogEndOffset, now);

        Assert.Equal(2, result.SegmentsDeleted);
        var active = Assert.Single(t.Segments);
        Assert.False(active.IsEmpty);
        Assert.Equal(6, t.Log.LogStartOffset);
        Assert.Equal("in the active segment", Assert.Single(t.ReadAll()).Value);
    }

    [Fact]
    public void Nothing_at_or_above_the_high_watermark_is_deleted()
    {
        using var t = new CleanerTestLog(DeleteConfig);
        long now = t.Clock.UnixTimeMs;
        AppendSegments(t, 4, now - 50_000); // segments [0,3) [3,6) [6,9) [9,12)

        // High watermark 7: only segments whose offsets all lie below 7 may go.
        var result = LogRetention.Apply(t.Log, highWatermark: 7, now);
        Assert.Equal(2, result.DeletedByTime);
        Assert.Equal(6, t.Log.LogStartOffset);

        Assert.Equal(0, LogRetention.Apply(t.Log, highWatermark: 8, now).SegmentsDeleted);
        Assert.Equal(1, LogRetention.Apply(t.Log, highWatermark: 9, now).SegmentsDeleted);
        Assert.Equal(9, t.Log.LogStartOffset);
    }

    [Fact]
    public void Size_retention_deletes_the_oldest_segments_while_the_rest_still_reaches_retention_bytes()
    {
        using var t = new CleanerTestLog(DeleteConfig with { RetentionMs = -1 });
        long now = t.Clock.UnixTimeMs;
        AppendSegments(t, 6, now);
        long segmentSize = t.Segments[0].Size;
        Assert.All(t.Segments.SkipLast(1), s => Assert.Equal(segmentSize, s.Size));

        // 6 segments of S bytes with retention.bytes = 2.5 S: deleting 3 leaves 3 S ≥ 2.5 S; a fourth would leave 2 S < 2.5 S.
        var log = t.Log;
        log.Config = log.Config with { RetentionBytes = segmentSize * 5 / 2 };
        var result = LogRetention.Apply(log, log.LogEndOffset, now);

        Assert.Equal((0, 3), (result.DeletedByTime, result.DeletedBySize));
        Assert.Equal(3 * segmentSize, result.BytesDeleted);
        Assert.Equal(3 * segmentSize, log.SizeInBytes);
        Assert.Equal(9, log.LogStartOffset);

        // Exactly at the limit: one more goes only when the remainder still holds retention.bytes.
        log.Config = log.Config with { RetentionBytes = 2 * segmentSize };
        Assert.Equal(1, LogRetention.Apply(log, log.LogEndOffset, now).DeletedBySize);
        Assert.Equal(0, LogRetention.Apply(log, log.LogEndOffset, now).SegmentsDeleted);
        Assert.Equal(2 * segmentSize, log.SizeInBytes);
    }

    [Fact]
    public void Size_retention_counts_the_active_segment_but_never_deletes_it()
    {
        using var t = new CleanerTestLog(DeleteConfig with { RetentionMs = -1, RetentionBytes = 1 });
        long now = t.Clock.UnixTimeMs;
        AppendSegments(t, 3, now);
        t.Append([("k", "v")], now);
        var result = LogRetention.Apply(t.Log, t.Log.LogEndOffset, now);
        Assert.Equal(3, result.DeletedBySize);
        Assert.Single(t.Segments);
    }

    [Fact]
    public void Minus_one_keeps_forever_and_compact_only_policies_are_not_retained()
    {
        using var forever = new CleanerTestLog(DeleteConfig with { RetentionMs = -1, RetentionBytes = -1 });
        long now = forever.Clock.UnixTimeMs;
        AppendSegments(forever, 3, 0);
        Assert.Equal(0, LogRetention.Apply(forever.Log, forever.Log.LogEndOffset, now).SegmentsDeleted);

        using var compacted = new CleanerTestLog(DeleteConfig with { CleanupPolicy = CleanupPolicy.Compact, RetentionBytes = 0 });
        AppendSegments(compacted, 3, 0);
        Assert.Equal(0, LogRetention.Apply(compacted.Log, compacted.Log.LogEndOffset, now).SegmentsDeleted);

        using var both = new CleanerTestLog(DeleteConfig with { CleanupPolicy = CleanupPolicy.Compact | CleanupPolicy.Delete });
        AppendSegments(both, 3, 0);
        Assert.Equal(3, LogRetention.Apply(both.Log, both.Log.LogEndOffset, now).DeletedByTime);
    }

    [Fact]
    public void A_segment_without_timestamps_ages_by_its_file_time()
    {
        using var t = new CleanerTestLog(DeleteConfig);
        long now = t.Clock.UnixTimeMs;
        AppendSegments(t, 2, timestampMs: -1);
        Assert.Equal(-1, t.Segments[0].LargestTimestamp);
        File.SetLastWriteTimeUtc(t.Segments[0].LogPath, DateTimeOffset.FromUnixTimeMilliseconds(now - 60_000).UtcDateTime);
        File.SetLastWriteTimeUtc(t.Segments[1].LogPath, DateTimeOffset.FromUnixTimeMilliseconds(now).UtcDateTime);

        Assert.Equal(1, LogRetention.Apply(t.Log, t.Log.LogEndOffset, now).DeletedByTime);
        Assert.Equal(3, t.Log.LogStartOffset);
    }

    [Fact]
    public void Segments_below_the_log_start_offset_go_whatever_the_policy()
    {
        using var t = new CleanerTestLog(DeleteConfig with { CleanupPolicy = CleanupPolicy.Compact });
        long now = t.Clock.UnixTimeMs;
        AppendSegments(t, 3, now); // [0,3) [3,6) [6,9)
        // A log start offset from log-start-offset-checkpoint leaves the segments below it on open.
        t.Reopen(new LogOpenOptions(LogStartOffset: 4));
        Assert.Equal(4, t.Segments.Count);
        var result = LogRetention.Apply(t.Log, t.Log.LogEndOffset, now);
        Assert.Equal(1, result.DeletedBelowLogStart);
        Assert.Equal(3, t.Segments[0].BaseOffset);
        Assert.Equal(4, t.Log.LogStartOffset);
    }
}
