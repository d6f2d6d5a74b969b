namespace Fjord.Storage;

/// <summary>The state of a log once its directory has been loaded and recovered.</summary>
internal sealed record LoadedLog(LogSegment[] Segments, long LogStartOffset, long LogEndOffset, long RecoveryPoint);

/// <summary>
/// Opens a partition directory: finishes or undoes interrupted file operations, opens the segments,
/// and recovers them (storage.md #5).
/// </summary>
/// <remarks>
/// Steps, in order:
/// 1. leftovers: <c>.tmp</c> (index rebuilds, epoch checkpoint) and <c>.deleted</c> segment files are
///    removed; <c>.cleaned</c> files (a cleaner's unfinished output) are removed; <c>.swap</c> files
///    (cleaned segments ready to replace old ones) replace the live segments whose base offsets fall
///    in their offset range, unless a <c>.cleaned</c> file at or below them shows the swap group was
///    never complete (Kafka's scheme). Orphan index files are removed.
/// 2. segments: every <c>.log</c> is opened; without the clean-shutdown marker every segment from the
///    one holding the recovery point on is scanned (<see cref="LogSegment.Recover(LeaderEpochCache?, out string?)"/>);
///    the others, and all of them after a clean shutdown, are sanity-checked
///    (<see cref="LogSegment.LoadAndCheck"/>) and recovered only if that fails. At the first invalid
///    batch the segment is truncated and every later segment deleted, with one log line.
/// 3. offsets: log end = the last segment's next offset; log start = max(checkpoint, first base offset)
///    (a log start beyond the end empties the log there); the epoch cache is truncated to match.
/// </remarks>
internal sealed class LogLoader(string directory, TopicPartition topicPartition, LogConfig config, Fjord.Common.IClock clock,
    LogOpenOptions options, LeaderEpochCache epochs)
{
    private readonly Action<string> _log = options.Log ?? (_ => { });

    public LoadedLog Load()
    {
        System.IO.Directory.CreateDirectory(directory);
        RemoveLeftovers();
        var segments = OpenSegments();
        try
        {
            if (segments.Count == 0)
                segments.Add(LogSegment.Create(directory, options.LogStartOffset ?? 0, config.IndexIntervalBytes));
            RecoverSegments(segments);
            CheckOrder(segments);
            return Finish(segments);
        }
        catch
        {
            foreach (var segment in segments) segment.Dispose();
            throw;
        }
    }

    private void RemoveLeftovers()
    {
        AtomicFile.DeleteLeftoverTemp(LeaderEpochCheckpointFile.PathIn(directory));
        long minCleanedBase = long.MaxValue;
        var swapLogs = new List<long>();
        foreach (var path in System.IO.Directory.GetFiles(directory))
        {
            var name = Path.GetFileName(path);
            if (!SegmentFileNames.TryParse(name, out long baseOffset, out string kind, out string marker)) continue;
            switch (marker)
            {
                case AtomicFile.TempSuffix:
                case SegmentFileNames.DeletedSuffix:
                    File.Delete(path);
                    break;
                case SegmentFileNames.CleanedSuffix:
                    minCleanedBase = Math.Min(minCleanedBase, baseOffset);
                    _log($"{topicPartition}: deleting {name}, left by an unfinished cleaning");
                    File.Delete(path);
                    break;
                case SegmentFileNames.SwapSuffix when kind == SegmentFileNames.LogSuffix:
                    swapLogs.Add(baseOffset);
                    break;
            }
        }
        CompleteSwaps(swapLogs, minCleanedBase);
        foreach (var path in System.IO.Directory.GetFiles(directory))
        {
            if (SegmentFileNames.TryParse(Path.GetFileName(path), out long baseOffset, out string kind, out string marker)
                && kind != SegmentFileNames.LogSuffix
                && (marker == "" || marker == SegmentFileNames.SwapSuffix)
                && !File.Exists(SegmentFileNames.LogFile(directory, baseOffset, marker)))
            {
                _log($"{topicPartition}: deleting orphan index file {Path.GetFileName(path)}");
                File.Delete(path);
            }
        }
    }

    /// <summary>Renames complete <c>.swap</c> segments into place, first deleting the live segments they replace.</summary>
    private void CompleteSwaps(List<long> swapLogs, long minCleanedBase)
    {
        long minSwapBase = long.MaxValue, maxSwapNext = long.MinValue;
        var valid = new List<long>();
        foreach (long baseOffset in swapLogs)
        {
            if (baseOffset >= minCleanedBase)
            {
                _log($"{topicPartition}: deleting swap segment {SegmentFileNames.Stem(baseOffset)}, part of an incomplete swap");
                DeleteSegmentFiles(baseOffset, SegmentFileNames.SwapSuffix);
                continue;
            }
            using var segment = LogSegment.Open(directory, baseOffset, config.IndexIntervalBytes, SegmentFileNames.SwapSuffix);
            segment.Recover(null);
            segment.Flush();
            minSwapBase = Math.Min(minSwapBase, baseOffset);
            maxSwapNext = Math.Max(maxSwapNext, segment.NextOffset);
            valid.Add(baseOffset);
        }
        if (valid.Count == 0) return;
        foreach (var path in System.IO.Directory.GetFiles(directory))
        {
            if (SegmentFileNames.TryParse(Path.GetFileName(path), out long baseOffset, out _, out string marker)
                && marker == "" && baseOffset >= minSwapBase && baseOffset < maxSwapNext)
            {
                _log($"{topicPartition}: deleting {Path.GetFileName(path)}, replaced by an interrupted swap");
                File.Delete(path);
            }
        }
        foreach (long baseOffset in valid)
        {
            _log($"{topicPartition}: completing the swap of segment {SegmentFileNames.Stem(baseOffset)}");
            File.Move(SegmentFileNames.LogFile(directory, baseOffset, SegmentFileNames.SwapSuffix), SegmentFileNames.LogFile(directory, baseOffset));
            MoveIfExists(SegmentFileNames.OffsetIndexFile(directory, baseOffset, SegmentFileNames.SwapSuffix), SegmentFileNames.OffsetIndexFile(directory, baseOffset));
            MoveIfExists(SegmentFileNames.TimeIndexFile(directory, baseOffset, SegmentFileNames.SwapSuffix), SegmentFileNames.TimeIndexFile(directory, baseOffset));
        }
        AtomicFile.FsyncDirectory(directory);
    }

    private static void MoveIfExists(string from, string to)
    {
        if (File.Exists(from)) File.Move(from, to, overwrite: true);
    }

    private void DeleteSegmentFiles(long baseOffset, string marker)
    {
        File.Delete(SegmentFileNames.LogFile(directory, baseOffset, marker));
        File.Delete(SegmentFileNames.OffsetIndexFile(directory, baseOffset, marker));
        File.Delete(SegmentFileNames.TimeIndexFile(directory, baseOffset, marker));
    }

    private List<LogSegment> OpenSegments()
    {
        var bases = new List<long>();
        foreach (var path in System.IO.Directory.GetFiles(directory))
        {
            if (SegmentFileNames.TryParse(Path.GetFileName(path), out long baseOffset, out string kind, out string marker)
                && kind == SegmentFileNames.LogSuffix && marker == "")
                bases.Add(baseOffset);
        }
        bases.Sort();
        var segments = new List<LogSegment>(bases.Count);
        try
        {
            foreach (long baseOffset in bases) segments.Add(LogSegment.Open(directory, baseOffset, config.IndexIntervalBytes));
        }
        catch
        {
            foreach (var segment in segments) segment.Dispose();
            throw;
        }
        return segments;
    }

    private void RecoverSegments(List<LogSegment> segments)
    {
        int firstToScan = segments.Count;
        if (!options.HadCleanShutdown)
        {
            firstToScan = 0;
            for (int i = 0; i < segments.Count; i++)
                if (segments[i].BaseOffset <= options.RecoveryPoint) firstToScan = i;
        }
        for (int i = 0; i < segments.Count; i++)
        {
            var segment = segments[i];
            string? problem = null;
            if (i < firstToScan)
            {
                problem = segment.LoadAndCheck();
                if (problem is null) continue;
                _log($"{topicPartition}: rebuilding the indexes of {Path.GetFileName(segment.LogPath)}: {problem}");
            }
            int truncated = segment.Recover(epochs, out problem);
            if (truncated > 0)
            {
                DropAfter(segments, i, truncated, problem);
                return;
            }
        }
    }

    /// <summary>Deletes every segment after <paramref name="index"/> (whose tail was truncated) and logs one line.</summary>
    private void DropAfter(List<LogSegment> segments, int index, int truncatedBytes, string? problem)
    {
        long droppedBytes = 0;
        int dropped = segments.Count - index - 1;
        for (int i = segments.Count - 1; i > index; i--)
        {
            droppedBytes += segments[i].Size;
            segments[i].DeleteFiles();
            segments.RemoveAt(i);
        }
        var segment = segments[index];
        segment.Flush();
        AtomicFile.FsyncDirectory(directory);
        _log($"{topicPartition}: recovery truncated {truncatedBytes} bytes from {Path.GetFileName(segment.LogPath)} at offset {segment.NextOffset} " +
             $"({problem}) and deleted {dropped} later segment(s) ({droppedBytes} bytes)");
    }

    private void CheckOrder(List<LogSegment> segments)
    {
        for (int i = 1; i < segments.Count; i++)
        {
            if (segments[i - 1].NextOffset > segments[i].BaseOffset)
                throw new StorageException(
                    $"segments overlap in {directory}: {Path.GetFileName(segments[i - 1].LogPath)} holds offsets up to {segments[i - 1].NextOffset - 1}, " +
                    $"past the base offset of {Path.GetFileName(segments[i].LogPath)}");
        }
    }

    private LoadedLog Finish(List<LogSegment> segments)
    {
        long logEnd = segments[^1].NextOffset;
        long logStart = Math.Max(options.LogStartOffset ?? segments[0].BaseOffset, segments[0].BaseOffset);
        if (logStart > logEnd)
        {
            _log($"{topicPartition}: log start offset {logStart} is beyond the log end offset {logEnd}; deleting all {segments.Count} segment(s)");
            foreach (var segment in segments) segment.DeleteFiles();
            segments.Clear();
            segments.Add(LogSegment.Create(directory, logStart, config.IndexIntervalBytes));
            AtomicFile.FsyncDirectory(directory);
            epochs.Clear();
            logEnd = logStart;
        }
        epochs.TruncateFromEnd(logEnd);
        epochs.TruncateFromStart(logStart);

        var active = segments[^1];
        if (active.FirstBatch() is { } first)
        {
            long now = clock.UnixTimeMs;
            active.RollBaseTimeMs = first.MaxTimestamp >= 0 && first.MaxTimestamp <= now ? first.MaxTimestamp : now;
        }
        long recoveryPoint = options.HadCleanShutdown ? logEnd : Math.Min(Math.Max(options.RecoveryPoint, 0), logEnd);
        return new LoadedLog([.. segments], logStart, logEnd, recoveryPoint);
    }
}
