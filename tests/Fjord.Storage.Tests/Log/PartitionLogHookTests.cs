namespace Fjord.Storage.Tests.Log;

public sealed class PartitionLogHookTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly FakeClock _clock = new();
    private readonly List<string> _lines = [];
    public void Dispose() => _dir.Dispose();

    private static readonly int BatchSize = Batches.Make(2).Length;
    private LogConfig Config => Logs.SmallConfig(segmentBytes: BatchSize * 3, indexIntervalBytes: 1);

    /// <summary>12 batches of 2 records (offsets 0..23) in 4 segments based at 0, 6, 12, 18.</summary>
    private PartitionLog Populate()
    {
        var log = Logs.Open(_dir, Config, _clock, new LogOpenOptions(Log: _lines.Add));
        for (int i = 0; i < 12; i++) log.AppendAsLeader(Batches.Make(2, timestamp: 100 * i, fill: (byte)i), i < 6 ? 1 : 2);
        return log;
    }

    private PartitionLog Reopen(bool clean) =>
        Logs.Open(_dir, Config, _clock, new LogOpenOptions(HadCleanShutdown: clean, Log: _lines.Add));

    /// <summary>A cleaned copy of <paramref name="segments"/> keeping only every other batch, in one segment.</summary>
    private LogSegment CleanedCopy(IReadOnlyList<LogSegment> segments)
    {
        var cleaned = LogSegment.CreateCleaned(_dir.Path, segments[0].BaseOffset, Config);
        int index = 0;
        foreach (var segment in segments)
        {
            foreach (var (baseOffset, _, size) in Batches.Headers(segment.WholeFile.ToArray()))
            {
                if (index++ % 2 == 1) continue;
                var bytes = segment.WholeFile.ToArray();
                int position = FindBatch(bytes, baseOffset);
                cleaned.Append(bytes.AsSpan(position, size));
            }
        }
        return cleaned;
    }

    private static int FindBatch(byte[] bytes, long baseOffset)
    {
        int position = 0;
        foreach (var (b, _, size) in Batches.Headers(bytes))
        {
            if (b == baseOffset) return position;
            position += size;
        }
        throw new InvalidOperationException();
    }

    [Fact]
    public void DeleteOldestSegments_deletes_a_prefix_of_closed_segments_below_the_high_watermark()
    {
        var log = Populate();
        var seen = new List<long>();
        Assert.Equal(1, log.DeleteOldestSegments(s => { seen.Add(s.BaseOffset); return true; }, highWatermark: 11));
        Assert.Equal([0L], seen);
        Assert.Equal(6, log.LogStartOffset);
        Assert.Equal([new EpochEntry(1, 6), new EpochEntry(2, 12)], log.LeaderEpochs.Entries);

        Assert.Equal(0, log.DeleteOldestSegments(s => s.BaseOffset != 6, highWatermark: 24));
        Assert.Equal(2, log.DeleteOldestSegments(_ => true, highWatermark: long.MaxValue));
        Assert.Equal([18L], log.SegmentsSnapshot.Select(s => s.BaseOffset));
        Assert.Equal(18, log.LogStartOffset);
        Assert.Equal(0, log.DeleteOldestSegments(_ => true, highWatermark: long.MaxValue));
        Assert.Equal(["00000000000000000018.index", "00000000000000000018.log", "00000000000000000018.timeindex", "leader-epoch-checkpoint"], _dir.FileNames());
        log.Close();
    }

    [Fact]
    public void ReplaceSegments_swaps_cleaned_segments_in()
    {
        var log = Populate();
        var old = log.SegmentsSnapshot.Take(2).ToArray();
        var expected = Batches.Concat(
            [.. Batches.Headers(log.Read(0, int.MaxValue, 12).ToArray()).Where((_, i) => i % 2 == 0)
                .Select(h => log.Read(h.BaseOffset, 1, long.MaxValue).ToArray())]);
        var tail = log.Read(12, int.MaxValue, long.MaxValue).ToArray();
        var cleaned = CleanedCopy(old);

        log.ReplaceSegments(old, [cleaned]);

        Assert.Equal([0L, 12, 18], log.SegmentsSnapshot.Select(s => s.BaseOffset));
        Assert.Same(cleaned, log.SegmentsSnapshot[0]);
        Assert.Equal("", cleaned.Marker);
        Assert.Equal(Batches.Concat(expected, tail), log.Read(0, int.MaxValue, long.MaxValue).ToArray());
        Assert.Equal(0, log.Read(1, 1, long.MaxValue).FirstBatchOffset);
        Assert.Equal(4, log.Read(2, 1, long.MaxValue).FirstBatchOffset);
        Assert.DoesNotContain(_dir.FileNames(), n => n.Contains("00000000000000000006") || n.Contains('.', StringComparison.Ordinal) && (n.EndsWith(".swap", StringComparison.Ordinal) || n.EndsWith(".cleaned", StringComparison.Ordinal) || n.EndsWith(".deleted", StringComparison.Ordinal)));
        log.Close();

        var reopened = Reopen(clean: false);
        Assert.Equal(Batches.Concat(expected, tail), reopened.Read(0, int.MaxValue, long.MaxValue).ToArray());
        Assert.Empty(_lines);
        reopened.Close();
    }

    [Fact]
    public void ReplaceSegments_checks_its_arguments()
    {
        var log = Populate();
        var segments = log.SegmentsSnapshot;
        using var wrongBase = LogSegment.CreateCleaned(_dir.Path, 1, Config);
        using var live = LogSegment.Create(_dir.Path, 100, 1);
        var cleaned = LogSegment.CreateCleaned(_dir.Path, 0, Config);
        Assert.Throws<ArgumentException>(() => log.ReplaceSegments([segments[0], segments[2]], [cleaned]));
        Assert.Throws<ArgumentException>(() => log.ReplaceSegments([segments[3]], [cleaned]));
        Assert.Throws<ArgumentException>(() => log.ReplaceSegments([segments[0]], [wrongBase]));
        Assert.Throws<ArgumentException>(() => log.ReplaceSegments([segments[0]], [live]));
        Assert.Throws<ArgumentException>(() => log.ReplaceSegments([segments[0]], []));
        cleaned.Append(log.Read(6, 1, long.MaxValue).ToArray());
        Assert.Throws<ArgumentException>(() => log.ReplaceSegments([segments[0]], [cleaned]));
        cleaned.DeleteFiles();
        log.Close();
    }

    [Fact]
    public void An_interrupted_swap_is_completed_on_open()
    {
        var log = Populate();
        var all = log.Read(0, int.MaxValue, long.MaxValue).ToArray();
        var old = log.SegmentsSnapshot.Take(2).ToArray();
        var cleaned = CleanedCopy(old);
        var expectedHead = cleaned.WholeFile.ToArray();
        cleaned.Flush();
        cleaned.ChangeMarker(SegmentFileNames.SwapSuffix);
        cleaned.Dispose();
        log.Close();

        var reopened = Reopen(clean: true);
        Assert.Equal([0L, 12, 18], reopened.SegmentsSnapshot.Select(s => s.BaseOffset));
        Assert.Equal(Batches.Concat(expectedHead, all[(BatchSize * 6)..]), reopened.Read(0, int.MaxValue, long.MaxValue).ToArray());
        Assert.Contains(_lines, l => l.Contains("replaced by an interrupted swap", StringComparison.Ordinal));
        Assert.DoesNotContain(_dir.FileNames(), n => n.EndsWith(".swap", StringComparison.Ordinal));
        reopened.Close();
    }

    [Fact]
    public void An_incomplete_swap_group_is_discarded_on_open()
    {
        var log = Populate();
        var all = log.Read(0, int.MaxValue, long.MaxValue).ToArray();
        var segments = log.SegmentsSnapshot;
        var first = CleanedCopy([segments[0]]);
        var second = CleanedCopy([segments[1]]);
        first.Flush();
        second.Flush();
        second.ChangeMarker(SegmentFileNames.SwapSuffix);
        first.Dispose();
        second.Dispose();
        log.Close();

        var reopened = Reopen(clean: true);
        Assert.Equal(all, reopened.Read(0, int.MaxValue, long.MaxValue).ToArray());
        Assert.DoesNotContain(_dir.FileNames(), n => n.EndsWith(".swap", StringComparison.Ordinal) || n.EndsWith(".cleaned", StringComparison.Ordinal));
        reopened.Close();
    }

    [Fact]
    public void A_swap_whose_old_segments_were_already_renamed_is_finished()
    {
        var log = Populate();
        var old = log.SegmentsSnapshot.Take(2).ToArray();
        var cleaned = CleanedCopy(old);
        var head = cleaned.WholeFile.ToArray();
        cleaned.Flush();
        cleaned.ChangeMarker(SegmentFileNames.SwapSuffix);
        cleaned.Dispose();
        var tail = log.Read(12, int.MaxValue, long.MaxValue).ToArray();
        log.Close();
        foreach (var segment in old)
            foreach (var path in new[] { SegmentFileNames.LogFile(_dir.Path, segment.BaseOffset), SegmentFileNames.OffsetIndexFile(_dir.Path, segment.BaseOffset), SegmentFileNames.TimeIndexFile(_dir.Path, segment.BaseOffset) })
                File.Move(path, path + SegmentFileNames.DeletedSuffix);

        var reopened = Reopen(clean: false);
        Assert.Equal(Batches.Concat(head, tail), reopened.Read(0, int.MaxValue, long.MaxValue).ToArray());
        reopened.Close();
    }
}
