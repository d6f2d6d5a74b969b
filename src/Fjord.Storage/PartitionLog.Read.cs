namespace Fjord.Storage;

public sealed partial class PartitionLog
{
    /// <summary>Lock-free attempts a query makes before it falls back to the write lock (see <see cref="Consistently"/>).</summary>
    private const int ReadAttempts = 10;

    /// <summary>
    /// Whole batches from the one holding <paramref name="offset"/> on, within
    /// <paramref name="maxBytes"/> and with last offsets below <paramref name="maxOffsetExclusive"/>
    /// (the high watermark, or the log end offset). With <paramref name="minOneBatch"/> a first batch
    /// larger than <paramref name="maxBytes"/> is returned whole (KIP-74). An offset outside
    /// [log start, log end] throws <see cref="OffsetOutOfRangeException"/>; at the log end or the bound
    /// the result is empty. Lock-free.
    /// </summary>
    public LogReadResult Read(long offset, int maxBytes, long maxOffsetExclusive, bool minOneBatch = true)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxBytes);
        return Consistently((offset, maxBytes, maxOffsetExclusive, minOneBatch),
            static (log, a) => log.ReadOnce(a.offset, a.maxBytes, a.maxOffsetExclusive, a.minOneBatch));
    }

    private LogReadResult ReadOnce(long offset, int maxBytes, long maxOffsetExclusive, bool minOneBatch)
    {
        long logEnd = LogEndOffset;
        var segments = Volatile.Read(ref _segments);
        long logStart = LogStartOffset;
        if (offset < logStart || offset > logEnd) throw new OffsetOutOfRangeException(offset, logStart, logEnd);
        long bound = Math.Min(maxOffsetExclusive, logEnd);
        var regions = new List<FileRegion>(1);
        long firstBatchOffset = -1;
        long start = offset;
        int remaining = maxBytes;
        for (int i = FloorSegment(segments, offset); i < segments.Length && start < bound; i++)
        {
            var slice = segments[i].Read(start, remaining, bound, includeOversizedFirstBatch: minOneBatch && regions.Count == 0);
            if (slice is not { } found) continue;
            if (found.IsEmpty) break;
            if (regions.Count == 0) firstBatchOffset = found.FirstBatchOffset;
            regions.Add(found.Region);
            remaining = Math.Max(0, remaining - found.Region.Length);
            start = found.LastOffset + 1;
            if (!found.ReachedSegmentEnd || remaining == 0) break;
        }
        return new LogReadResult(regions, firstBatchOffset, logStart, logEnd);
    }

    /// <summary>Index of the last segment whose base offset is ≤ <paramref name="offset"/> (0 when none is).</summary>
    private static int FloorSegment(LogSegment[] segments, long offset)
    {
        int low = 0, high = segments.Length - 1, found = 0;
        while (low <= high)
        {
            int mid = (low + high) >>> 1;
            if (segments[mid].BaseOffset <= offset) { found = mid; low = mid + 1; }
            else high = mid - 1;
        }
        return found;
    }

    /// <summary>
    /// ListOffsets by time: the first record at or after the log start offset whose timestamp is ≥
    /// <paramref name="timestampMs"/>, as (offset, timestamp); null when there is none. Searches the
    /// first segment whose largest timestamp reaches the target (time index, then batch headers, then
    /// the batch's records). Lock-free.
    /// </summary>
    public (long Offset, long Timestamp)? OffsetForTimestamp(long timestampMs)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(timestampMs);
        return Consistently(timestampMs, static (log, timestampMs) =>
        {
            var segments = Volatile.Read(ref log._segments);
            long logStart = log.LogStartOffset;
            foreach (var segment in segments)
            {
                if (segment.LargestTimestamp < timestampMs || !HasOffsetsFrom(segments, segment, logStart)) continue;
                if (segment.FindOffsetByTimestamp(timestampMs, logStart) is { } found) return found;
            }
            return ((long, long)?)null;
        });
    }

    /// <summary>
    /// ListOffsets MAX_TIMESTAMP (KIP-734): the first record carrying the largest timestamp in the log,
    /// as (offset, timestamp); null when the log holds no timestamped record at or after its start.
    /// </summary>
    public (long Offset, long Timestamp)? OffsetOfMaxTimestamp()
    {
        return Consistently(0, static (log, _) =>
        {
            var segments = Volatile.Read(ref log._segments);
            long logStart = log.LogStartOffset;
            LogSegment? best = null;
            foreach (var segment in segments)
            {
                if (!HasOffsetsFrom(segments, segment, logStart)) continue;
                if (segment.LargestTimestamp >= 0 && (best is null || segment.LargestTimestamp > best.LargestTimestamp)) best = segment;
            }
            return best?.FindOffsetByTimestamp(best.LargestTimestamp, logStart);
        });
    }

    /// <summary>(log start offset, -1): ListOffsets EARLIEST.</summary>
    public (long Offset, long Timestamp) EarliestOffset() => (LogStartOffset, -1);

    /// <summary>(log end offset, -1): ListOffsets LATEST for a caller that may see the whole log.</summary>
    public (long Offset, long Timestamp) LatestOffset() => (LogEndOffset, -1);

    private static bool HasOffsetsFrom(LogSegment[] segments, LogSegment segment, long logStart)
    {
        int index = Array.IndexOf(segments, segment);
        return index + 1 >= segments.Length || segments[index + 1].BaseOffset > logStart;
    }

    /// <summary>
    /// Runs a lock-free query so that it sees one state of the log. It runs again on a fresh snapshot
    /// when it raced the writer: a truncation ran meanwhile (the truncation counter moved — a segment
    /// of the snapshot may have been cut and refilled, or the query's bytes cut under it), or a
    /// segment of its snapshot was deleted and closed (file.delete.delay.ms = 0). After
    /// <see cref="ReadAttempts"/> such races it runs under the write lock.
    /// </summary>
    private T Consistently<TState, T>(TState state, Func<PartitionLog, TState, T> query)
    {
        var spin = new SpinWait();
        for (int attempt = 0; attempt < ReadAttempts; attempt++)
        {
            long truncations = Volatile.Read(ref _truncations);
            if ((truncations & 1) == 1)
            {
                spin.SpinOnce();
                continue;
            }
            try
            {
                var result = query(this, state);
                if (Volatile.Read(ref _truncations) == truncations) return result;
            }
            catch (ObjectDisposedException) when (!Volatile.Read(ref _closed))
            {
            }
            catch (StorageException) when (Volatile.Read(ref _truncations) != truncations)
            {
            }
        }
        lock (_writeLock)
        {
            ThrowIfClosed();
            return query(this, state);
        }
    }
}
