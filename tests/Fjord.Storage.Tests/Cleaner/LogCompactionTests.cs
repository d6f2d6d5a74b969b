using Fjord.Protocol.Compression;
using Fjord.Protocol.Records;

namespace Fjord.Storage.Tests.Cleaner;

public sealed class LogCompactionTests : IDisposable
{
    private const long DeleteRetentionMs = 60_000;
    private static readonly LogConfig Compacted = new()
    {
        CleanupPolicy = CleanupPolicy.Compact, DeleteRetentionMs = DeleteRetentionMs, FileDeleteDelayMs = 0, SegmentBytes = 1024 * 1024,
    };
    private static readonly CleanerOptions SmallCleaner = new() { DedupeBufferBytes = 1 << 20, IoBufferBytes = 4096 };

    private readonly List<IDisposable> _owned = [];

    private CleanerTestLog NewLog(LogConfig? config = null)
    {
        var t = new CleanerTestLog(config ?? Compacted);
        _owned.Add(t);
        return t;
    }

    private LogCleaner NewCleaner(CleanerTestLog t, CleanerOptions? options = null)
    {
        var cleaner = new LogCleaner(t.Clock, options ?? SmallCleaner);
        _owned.Add(cleaner);
        return cleaner;
    }

    private static List<(long, string?, string?)> Shape(IEnumerable<ReadRecord> records) => records.Select(r => (r.Offset, r.Key, r.Value)).ToList();

    [Fact]
    public void The_latest_value_of_each_key_is_kept_at_its_offset()
    {
        var t = NewLog();
        t.Append(("a", "a0"), ("b", "b0"), ("c", "c0")); // 0..2
        t.Log.Roll();
        t.Append(("a", "a1"), ("b", "b1"));              // 3..4
        t.Log.Roll();
        t.Append(("a", "a2"));                           // 5
        t.Log.Roll();
        long logEnd = t.Log.LogEndOffset;

        var result = NewCleaner(t).Clean(t.Log, t.Log.LogEndOffset);

        Assert.NotNull(result);
        Assert.Equal((0L, 6L, 6L, false), (result.FirstDirtyOffset, result.EndOffset, result.FirstUncleanableOffset, result.MapFull));
        Assert.Equal((6L, 3L, 3), (result.RecordsRead, result.RecordsKept, result.KeysIndexed));
        Assert.Equal([(2, "c", "c0"), (4, "b", "b1"), (5, "a", "a2")], Shape(t.ReadAll()));
        Assert.Equal(logEnd, t.Log.LogEndOffset);
        Assert.Equal(0, t.Log.LogStartOffset);
        Assert.Equal(6, t.Append(("d", "d0"))); // the next offset is unchanged
        Assert.Equal(6, CleanerCheckpoint.Read(t.Dir));
    }

    [Fact]
    public void The_active_segment_is_never_cleaned_and_appends_continue_at_the_log_end()
    {
        var t = NewLog();
        t.Append(("a", "a0"), ("a", "a1"));
        t.Log.Roll();
        t.Append(("a", "a2"), ("a", "a3")); // active
        var activeBefore = t.Segments[^1];

        var result = NewCleaner(t).Clean(t.Log, t.Log.LogEndOffset)!;

        Assert.Equal(2, result.EndOffset);
        Assert.Same(activeBefore, t.Segments[^1]);
        // The closed segment's last record is the latest of its section; the active one is untouched.
        Assert.Equal([(1, "a", "a1"), (2, "a", "a2"), (3, "a", "a3")], Shape(t.ReadAll()));
    }

    [Fact]
    public void Nothing_at_or_above_the_high_watermark_is_cleaned()
    {
        var t = NewLog();
        t.Append(("a", "a0"), ("a", "a1")); // [0,2)
        t.Log.Roll();
        t.Append(("a", "a2"), ("a", "a3")); // [2,4)
        t.Log.Roll();

        var cleaner = NewCleaner(t);
        Assert.Null(cleaner.Clean(t.Log, highWatermark: 1)); // the first segment reaches past the high watermark
        var result = cleaner.Clean(t.Log, highWatermark: 3)!;
        Assert.Equal(2, result.EndOffset);
        Assert.Equal([(1, "a", "a1"), (2, "a", "a2"), (3, "a", "a3")], Shape(t.ReadAll()));

        cleaner.Clean(t.Log, highWatermark: 4);
        Assert.Equal([(3, "a", "a3")], Shape(t.ReadAll()));
    }

    [Fact]
    public void Keyless_records_are_kept()
    {
        var t = NewLog();
        t.Append((null, "n0"), ("a", "a0"), (null, "n1"), ("a", "a1"));
        t.Log.Roll();
        NewCleaner(t).Clean(t.Log, t.Log.LogEndOffset);
        Assert.Equal([(0, null, "n0"), (2, null, "n1"), (3, "a", "a1")], Shape(t.ReadAll()));
    }

    [Fact]
    public void A_tombstone_survives_the_first_cleaning_and_goes_after_delete_retention_ms()
    {
        var t = NewLog();
        var cleaner = NewCleaner(t);
        t.Append(("a", "a0"), ("b", "b0"));
        t.Append(("a", null));                    // 2: tombstone for a
        t.Log.Roll();

        cleaner.Clean(t.Log, t.Log.LogEndOffset);
        Assert.Equal([(1, "b", "b0"), (2, "a", null)], Shape(t.ReadAll()));
        var tombstoneBatch = t.ReadBatches().Single(b => b.BaseOffset == 2);
        Assert.Equal(t.Clock.UnixTimeMs + DeleteRetentionMs, tombstoneBatch.DeleteHorizonMs);

        // Before the horizon a new round keeps it.
        t.Clock.Advance(DeleteRetentionMs - 1);
        t.Append(("c", "c0"));
        t.Log.Roll();
        cleaner.Clean(t.Log, t.Log.LogEndOffset);
        Assert.Equal([(1, "b", "b0"), (2, "a", null), (3, "c", "c0")], Shape(t.ReadAll()));

        // Once the horizon has passed, the next round removes it.
        t.Clock.Advance(1);
        t.Append(("d", "d0"));
        t.Log.Roll();
        var result = cleaner.Clean(t.Log, t.Log.LogEndOffset)!;
        Assert.Equal(1, result.TombstonesDropped);
        Assert.Equal([(1, "b", "b0"), (3, "c", "c0"), (4, "d", "d0")], Shape(t.ReadAll()));
    }

    [Fact]
    public void A_tombstone_in_the_active_segment_deletes_nothing_yet_and_a_new_value_revives_a_key()
    {
        var t = NewLog();
        t.Append(("a", "a0"));
        t.Append(("a", null));
        t.Append(("a", "a2"));
        t.Log.Roll();
        t.Append(("b", null)); // active: not indexed
        NewCleaner(t).Clean(t.Log, t.Log.LogEndOffset);
        Assert.Equal([(2, "a", "a2"), (3, "b", null)], Shape(t.ReadAll()));
    }

    [Fact]
    public void Compaction_survives_a_reopen_with_full_recovery()
    {
        var t = NewLog();
        for (int i = 0; i < 20; i++)
        {
            t.Append(Enumerable.Range(0, 10).Select(j => ((string?)$"k{(i * 10 + j) % 7}", (string?)$"v{i * 10 + j}")));
            if (i % 4 == 3) t.Log.Roll();
        }
        t.Log.Roll();
        var cleaner = NewCleaner(t);
        var result = cleaner.Clean(t.Log, t.Log.LogEndOffset)!;
        var before = t.ReadAll();
        Assert.Equal(7, before.Count);
        Assert.Equal(5, result.SegmentsBefore);
        Assert.Equal(1, result.SegmentsAfter); // small segments merge into one group

        t.Reopen(); // no clean-shutdown marker: every segment is scanned (CRCs, offsets, indexes)
        Assert.Equal(before, t.ReadAll());
        Assert.Equal(200, t.Log.LogEndOffset);
        Assert.Equal(200, cleaner.Inspect(t.Log, t.Log.LogEndOffset).FirstDirtyOffset);
        Assert.Empty(Directory.GetFiles(t.Dir, "*.cleaned"));
        Assert.Empty(Directory.GetFiles(t.Dir, "*.swap"));
        Assert.Null(cleaner.Clean(t.Log, t.Log.LogEndOffset)); // nothing dirty

        // Lookups by offset still work inside the cleaned segment (gaps included).
        var read = t.Log.Read(150, 1 << 20, t.Log.LogEndOffset);
        Assert.True(TestBatches.Batches(read.ToArray())[0].LastOffset >= 150);
    }

    [Fact]
    public void Cleaned_segments_stay_within_segment_bytes_and_keep_their_offset_ranges()
    {
        var t = NewLog(Compacted with { SegmentBytes = 4096 });
        for (int i = 0; i < 200; i++) t.Append(("k" + (i % 50), new string('x', 40) + i));
        t.Log.Roll();
        var oldBases = t.Segments.Select(s => s.BaseOffset).ToList();
        Assert.True(oldBases.Count > 5);

        NewCleaner(t).Clean(t.Log, t.Log.LogEndOffset);

        var segments = t.Segments;
        Assert.All(segments, s => Assert.True(s.Size <= 4096, $"{s} is larger than segment.bytes"));
        Assert.All(segments, s => Assert.Contains(s.BaseOffset, oldBases)); // each cleaned segment is named after the first one it replaced
        Assert.Equal(0, segments[0].BaseOffset);
        Assert.Equal(200, segments[^1].BaseOffset);
        for (int i = 0; i + 1 < segments.Count; i++)
            Assert.Equal(segments[i + 1].BaseOffset, segments[i].NextOffset); // the last batch of every segment survives, emptied if need be
        Assert.Equal(Enumerable.Range(150, 50).Select(i => ((long)i, (string?)("k" + (i % 50)), (string?)(new string('x', 40) + i))), Shape(t.ReadAll()));
    }

    [Fact]
    public void Compressed_transactional_and_control_batches()
    {
        var t = NewLog();
        t.Append([("a", "a0"), ("b", "b0"), ("a", "a1")], compression: CompressionType.Gzip);           // 0..2
        var txn = new RecordBatchOptions { ProducerId = 5, ProducerEpoch = 0, BaseSequence = 0, IsTransactional = true };
        t.Append([("a", "txn-a"), ("b", "txn-b")], options: txn);                                          // 3..4
        t.AppendRaw(EndTransactionMarker.BuildBatch(true, 0, producerId: 5, producerEpoch: 0, timestampMs: t.Clock.UnixTimeMs, baseOffset: 0, partitionLeaderEpoch: 0)); // 5
        t.Append([("b", "b1"), ("c", "c0")], compression: CompressionType.Lz4);                           // 6..7
        t.Log.Roll();

        NewCleaner(t).Clean(t.Log, t.Log.LogEndOffset);

        var batches = t.ReadBatches();
        Assert.Equal(CompressionType.Gzip, batches[0].Compression);
        Assert.True(batches[1].IsTransactional && !batches[1].IsControl);
        Assert.True(batches[2].IsControl);
        Assert.Equal(CompressionType.Lz4, batches[3].Compression);
        // Transactional records are neither indexed nor removed in this version.
        Assert.Equal([(2, "a", "a1"), (3, "a", "txn-a"), (4, "b", "txn-b"), (6, "b", "b1"), (7, "c", "c0")],
            Shape(t.ReadAll().Where(r => r.Offset != 5)));
        Assert.Contains(t.ReadAll(), r => r.Offset == 5); // the commit marker
    }

    [Fact]
    public void Min_compaction_lag_keeps_young_segments_dirty()
    {
        var t = NewLog(Compacted with { MinCompactionLagMs = 10_000 });
        long now = t.Clock.UnixTimeMs;
        t.Append([("a", "a0"), ("a", "a1")], timestampMs: now - 20_000);
        t.Log.Roll();
        t.Append([("a", "a2"), ("a", "a3")], timestampMs: now - 5_000);
        t.Log.Roll();

        var cleaner = NewCleaner(t);
        var result = cleaner.Clean(t.Log, t.Log.LogEndOffset)!;
        Assert.Equal(2, result.FirstUncleanableOffset);
        Assert.Equal([(1, "a", "a1"), (2, "a", "a2"), (3, "a", "a3")], Shape(t.ReadAll()));

        t.Clock.Advance(5_000);
        cleaner.Clean(t.Log, t.Log.LogEndOffset);
        Assert.Equal([(3, "a", "a3")], Shape(t.ReadAll()));
    }

    [Fact]
    public void A_small_key_map_cleans_in_several_rounds_resuming_mid_segment()
    {
        var t = NewLog(Compacted with { SegmentBytes = 64 * 1024 });
        var random = new Random(12345);
        var model = new Dictionary<string, (long Offset, string Value)>();
        for (int b = 0; b < 40; b++)
        {
            var records = Enumerable.Range(0, 50).Select(_ => ($"key{random.Next(500)}", $"v{random.Next(1000)}")).ToList();
            long first = t.Append(records.Select(r => ((string?)r.Item1, (string?)r.Item2)));
            for (int i = 0; i < records.Count; i++) model[records[i].Item1] = (first + i, records[i].Item2);
        }
        t.Log.Roll();

        // 256 slots, 230 keys per round: fewer than the 500 keys, so every round stops with a full map.
        var cleaner = NewCleaner(t, new CleanerOptions { DedupeBufferBytes = 256 * OffsetMap.SlotBytes, IoBufferBytes = 2048 });
        var rounds = new List<CleanResult>();
        while (cleaner.Clean(t.Log, t.Log.LogEndOffset) is { } round) rounds.Add(round);

        Assert.True(rounds.Count >= 3, $"{rounds.Count} rounds");
        Assert.All(rounds.SkipLast(1), r => Assert.True(r.MapFull));
        for (int i = 1; i < rounds.Count; i++) Assert.Equal(rounds[i - 1].EndOffset, rounds[i].FirstDirtyOffset);
        Assert.Equal(t.Log.LogEndOffset, rounds[^1].EndOffset);
        AssertMatchesModel(t.ReadAll(), model);
    }

    [Fact]
    public void Clean_if_needed_follows_the_policy_and_the_dirty_ratio()
    {
        var deleteOnly = NewLog(Compacted with { CleanupPolicy = CleanupPolicy.Delete });
        deleteOnly.Append(("a", "1"), ("a", "2"));
        deleteOnly.Log.Roll();
        Assert.Null(NewCleaner(deleteOnly).CleanIfNeeded(deleteOnly.Log, deleteOnly.Log.LogEndOffset));
        Assert.Null(NewCleaner(deleteOnly).Clean(deleteOnly.Log, deleteOnly.Log.LogEndOffset));
        Assert.Equal(2, deleteOnly.ReadAll().Count);

        var t = NewLog(Compacted with { MinCleanableDirtyRatio = 0.5 });
        var cleaner = NewCleaner(t);
        t.Append(Enumerable.Range(0, 100).Select(i => ((string?)$"k{i}", (string?)"value")));
        t.Log.Roll();
        Assert.Equal(1.0, cleaner.Inspect(t.Log, t.Log.LogEndOffset).DirtyRatio);
        Assert.NotNull(cleaner.CleanIfNeeded(t.Log, t.Log.LogEndOffset));

        // A small dirty tail next to a large clean head: below the ratio, nothing runs.
        t.Append(("k1", "again"));
        t.Log.Roll();
        var section = cleaner.Inspect(t.Log, t.Log.LogEndOffset);
        Assert.True(section.DirtyRatio is > 0 and < 0.5, $"ratio {section.DirtyRatio}");
        Assert.Null(cleaner.CleanIfNeeded(t.Log, t.Log.LogEndOffset));
    }

    [Fact]
    public void A_stale_checkpoint_outside_the_log_restarts_from_the_log_start()
    {
        var t = NewLog();
        t.Append(("a", "a0"), ("a", "a1"));
        t.Log.Roll();
        CleanerCheckpoint.Write(t.Dir, 1_000); // e.g. the log was truncated below it
        var cleaner = NewCleaner(t);
        Assert.Equal(0, cleaner.Inspect(t.Log, t.Log.LogEndOffset).FirstDirtyOffset);
        cleaner.Clean(t.Log, t.Log.LogEndOffset);
        Assert.Equal([(1, "a", "a1")], Shape(t.ReadAll()));

        CleanerCheckpoint.ClampTo(t.Dir, 1);
        Assert.Equal(1, CleanerCheckpoint.Read(t.Dir));
        CleanerCheckpoint.ClampTo(t.Dir, 5);
        Assert.Equal(1, CleanerCheckpoint.Read(t.Dir));
    }

    [Fact]
    public void A_round_whose_segments_were_deleted_meanwhile_is_abandoned_without_loss()
    {
        var t = NewLog(Compacted with { CleanupPolicy = CleanupPolicy.Compact | CleanupPolicy.Delete, RetentionMs = 1_000 });
        long now = t.Clock.UnixTimeMs;
        t.Append([("a", "old")], timestampMs: now - 5_000);
        t.Log.Roll();
        t.Append([("a", "a1"), ("b", "b1")], timestampMs: now);
        t.Log.Roll();
        var stale = t.Segments.Take(2).ToList();
        LogRetention.Apply(t.Log, t.Log.LogEndOffset, now); // deletes [0,1)

        var cleaned = LogSegment.CreateCleaned(t.Dir, 0, t.Log.Config);
        var e = Assert.Throws<ArgumentException>(() => t.Log.ReplaceSegments(stale, [cleaned]));
        cleaned.DeleteFiles();
        Assert.Contains("not a segment of this log", e.Message);
        Assert.Equal([(1, "a", "a1"), (2, "b", "b1")], Shape(t.ReadAll()));
    }

    [Fact]
    public async Task Appends_continue_while_a_round_runs_and_nothing_appended_is_lost()
    {
        var t = NewLog(Compacted with { SegmentBytes = 32 * 1024 });
        var model = new Dictionary<string, (long Offset, string Value)>();
        for (int b = 0; b < 300; b++)
        {
            var records = Enumerable.Range(0, 20).Select(i => ($"k{(b * 20 + i) % 300}", $"v{b * 20 + i}")).ToList();
            long first = t.Append(records.Select(r => ((string?)r.Item1, (string?)r.Item2)));
            for (int i = 0; i < records.Count; i++) model[records[i].Item1] = (first + i, records[i].Item2);
        }
        t.Log.Roll();
        long closedEnd = t.Log.LogEndOffset;

        using var start = new ManualResetEventSlim();
        var writer = Task.Run(() =>
        {
            start.Wait();
            var written = new List<(long Offset, string Key, string Value)>();
            for (int b = 0; b < 200; b++)
            {
                long first = t.Append(Enumerable.Range(0, 5).Select(i => ((string?)$"w{b}-{i}", (string?)$"x{b}")));
                for (int i = 0; i < 5; i++) written.Add((first + i, $"w{b}-{i}", $"x{b}"));
            }
            return written;
        });
        start.Set();
        var result = NewCleaner(t, SmallCleaner with { IoBufferBytes = 1024 }).Clean(t.Log, closedEnd)!;
        var appended = await writer;

        Assert.Equal(closedEnd, result.EndOffset);
        var all = t.ReadAll();
        AssertMatchesModel(all.Where(r => r.Offset < closedEnd).ToList(), model);
        Assert.Equal(appended.Select(a => (a.Offset, (string?)a.Key, (string?)a.Value)), Shape(all.Where(r => r.Offset >= closedEnd)));
        Assert.Equal(closedEnd + 1_000, t.Log.LogEndOffset);
    }

    [Fact]
    public void Timestamp_lookups_work_on_cleaned_segments()
    {
        var t = NewLog();
        long now = t.Clock.UnixTimeMs;
        for (int i = 0; i < 10; i++) t.Append([("k" + (i % 3), "v" + i)], timestampMs: now + i * 100);
        t.Log.Roll();
        NewCleaner(t).Clean(t.Log, t.Log.LogEndOffset);
        Assert.Equal([(7, "k1", "v7"), (8, "k2", "v8"), (9, "k0", "v9")], Shape(t.ReadAll()));
        Assert.Equal((7L, now + 700), t.Log.OffsetForTimestamp(now + 50));
        Assert.Equal((9L, now + 900), t.Log.OffsetForTimestamp(now + 850));
        Assert.Null(t.Log.OffsetForTimestamp(now + 901));
    }

    [Fact]
    public void A_round_cut_short_before_its_swap_leaves_the_log_as_it_was()
    {
        var t = NewLog();
        t.Append(("a", "a0"), ("a", "a1"));
        t.Log.Roll();
        var before = t.ReadAll();
        // What a crash mid-round leaves: a half-written .cleaned segment and no checkpoint.
        var cleaned = LogSegment.CreateCleaned(t.Dir, 0, t.Log.Config);
        cleaned.Append(TestBatches.Build([new(1, "a", "a1")]));
        cleaned.Dispose();

        t.Reopen();
        Assert.Equal(before, t.ReadAll());
        Assert.Empty(Directory.GetFiles(t.Dir, "*.cleaned"));
        NewCleaner(t).Clean(t.Log, t.Log.LogEndOffset);
        Assert.Equal([(1, "a", "a1")], Shape(t.ReadAll()));
    }

    internal static void AssertMatchesModel(List<ReadRecord> records, Dictionary<string, (long Offset, string Value)> model)
    {
        Assert.Equal(model.Count, records.Count);
        long previous = -1;
        var seen = new HashSet<string>();
        foreach (var r in records)
        {
            Assert.True(r.Offset > previous, $"offset {r.Offset} after {previous}");
            previous = r.Offset;
            Assert.NotNull(r.Key);
            Assert.True(seen.Add(r.Key!), $"key {r.Key} appears twice");
            var expected = model[r.Key!];
            Assert.True(expected.Offset == r.Offset && expected.Value == r.Value,
                $"key {r.Key}: read ({r.Offset}, {r.Value}), last written ({expected.Offset}, {expected.Value})");
        }
    }

    public void Dispose()
    {
        foreach (var owned in _owned) owned.Dispose();
    }
}
