namespace Fjord.Storage;

/// <summary>Hooks for retention and compaction (Retention*, Cleaner*): they run under the write lock.</summary>
public sealed partial class PartitionLog
{
    /// <summary>
    /// Retention: deletes the longest prefix of closed (non-active) segments for which
    /// <paramref name="predicate"/> holds and whose offsets all lie below
    /// <paramref name="highWatermark"/> (the next segment's base offset ≤ high watermark); raises the
    /// log start offset to the new first segment's base offset. Returns how many were deleted.
    /// The predicate runs under the write lock: it must not block.
    /// </summary>
    internal int DeleteOldestSegments(Func<LogSegment, bool> predicate, long highWatermark)
    {
        lock (_writeLock)
        {
            BeginWrite();
            var segments = _segments;
            int count = 0;
            while (count + 1 < segments.Length && segments[count + 1].BaseOffset <= highWatermark && predicate(segments[count])) count++;
            DropOldest(count);
            return count;
        }
    }

    /// <summary>
    /// Compaction: swaps a contiguous run of closed segments for cleaned ones, crash-safely (Kafka's
    /// scheme). <paramref name="newSegments"/> were made with <see cref="LogSegment.CreateCleaned"/>
    /// (files named <c>.cleaned</c>), are ordered, lie within the old run's offsets, and the first has
    /// the first old segment's base offset. Steps: flush the new segments; rename them
    /// <c>.cleaned</c> → <c>.swap</c>; publish the new segment list; rename the old ones
    /// <c>.deleted</c> (deleted after file.delete.delay.ms); rename the new ones <c>.swap</c> → final.
    /// A crash at any point is finished or undone by the next open (<see cref="LogLoader"/>).
    /// </summary>
    internal void ReplaceSegments(IReadOnlyList<LogSegment> oldSegments, IReadOnlyList<LogSegment> newSegments)
    {
        lock (_writeLock)
        {
            BeginWrite();
            var segments = _segments;
            int start = CheckReplacement(segments, oldSegments, newSegments);

            foreach (var segment in newSegments)
            {
                segment.OnBecomeInactive();
                segment.Flush();
            }
            foreach (var segment in newSegments) segment.ChangeMarker(SegmentFileNames.SwapSuffix);
            AtomicFile.FsyncDirectory(Directory);

            Publish([.. segments[..start], .. newSegments, .. segments[(start + oldSegments.Count)..]]);

            foreach (var segment in oldSegments) ScheduleDeletion(segment);
            AtomicFile.FsyncDirectory(Directory);
            foreach (var segment in newSegments) segment.ChangeMarker("");
            AtomicFile.FsyncDirectory(Directory);
            _directoryDirty = false;
        }
    }

    /// <summary>Checks a replacement and returns the index of the first old segment.</summary>
    private static int CheckReplacement(LogSegment[] segments, IReadOnlyList<LogSegment> oldSegments, IReadOnlyList<LogSegment> newSegments)
    {
        if (oldSegments.Count == 0) throw new ArgumentException("no segments to replace", nameof(oldSegments));
        if (newSegments.Count == 0) throw new ArgumentException("a replacement needs at least one segment", nameof(newSegments));
        int start = Array.IndexOf(segments, oldSegments[0]);
        if (start < 0) throw new ArgumentException($"{oldSegments[0]} is not a segment of this log", nameof(oldSegments));
        if (start + oldSegments.Count > segments.Length - 1)
            throw new ArgumentException("the segments to replace must be closed: the active segment cannot be replaced", nameof(oldSegments));
        for (int i = 0; i < oldSegments.Count; i++)
        {
            if (!ReferenceEquals(segments[start + i], oldSegments[i]))
                throw new ArgumentException("the segments to replace must be a contiguous run of the log's current segments", nameof(oldSegments));
        }
        long runEnd = segments[start + oldSegments.Count].BaseOffset;
        if (newSegments[0].BaseOffset != oldSegments[0].BaseOffset)
            throw new ArgumentException($"the first cleaned segment must start at {oldSegments[0].BaseOffset}, not {newSegments[0].BaseOffset}", nameof(newSegments));
        long previousNext = newSegments[0].BaseOffset;
        for (int i = 0; i < newSegments.Count; i++)
        {
            var segment = newSegments[i];
            if (segment.Marker != SegmentFileNames.CleanedSuffix)
                throw new ArgumentException($"{segment} is not a cleaned segment (made with LogSegment.CreateCleaned)", nameof(newSegments));
            if (segment.BaseOffset < previousNext || (i > 0 && segment.BaseOffset == newSegments[i - 1].BaseOffset))
                throw new ArgumentException($"cleaned segment {segment} overlaps the one before it", nameof(newSegments));
            if (segment.NextOffset > runEnd)
                throw new ArgumentException($"cleaned segment {segment} holds offsets past {runEnd - 1}, the end of the replaced run", nameof(newSegments));
            previousNext = segment.NextOffset;
        }
        return start;
    }
}
