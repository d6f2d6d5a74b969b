namespace Fjord.Storage;

public sealed partial class PartitionLog
{
    /// <summary>
    /// Drops every batch holding an offset ≥ <paramref name="offset"/> (a diverging follower; a batch
    /// straddling it goes whole), and the epoch entries starting at or after the new log end offset.
    /// The log end offset becomes the end of the last batch kept — <paramref name="offset"/> itself
    /// when it is a batch boundary, less when a straddling batch or a gap precedes it — or the base
    /// offset of the segment holding <paramref name="offset"/> if that segment is left empty: exactly
    /// what a reopen would compute. Below the first segment the log is emptied and restarted at
    /// <paramref name="offset"/>. Nothing happens when <paramref name="offset"/> ≥ the log end offset.
    /// The truncation is fsynced.
    /// </summary>
    public void Truncate(long offset)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        lock (_writeLock)
        {
            BeginWrite();
            if (offset >= _logEndOffset) return;
            if (offset < _segments[0].BaseOffset)
            {
                TruncateFullyLocked(offset);
                return;
            }
            Interlocked.Increment(ref _truncations);
            try
            {
                TruncateLocked(offset);
            }
            finally
            {
                Interlocked.Increment(ref _truncations);
            }
        }
    }

    private void TruncateLocked(long offset)
    {
        int keep = _segments.Length;
        while (_segments[keep - 1].BaseOffset > offset) keep--;
        var removed = _segments[keep..];
        var kept = _segments[..keep];
        var active = kept[^1];
        int truncatedBytes = active.TruncateTo(offset);
        if (active.IsEmpty) active.RollBaseTimeMs = -1;
        Publish(kept);
        foreach (var segment in removed) ScheduleDeletion(segment);
        long logEnd = active.NextOffset;
        Volatile.Write(ref _logEndOffset, logEnd);
        if (_recoveryPoint > logEnd) Volatile.Write(ref _recoveryPoint, logEnd);
        if (_logStartOffset > logEnd) Volatile.Write(ref _logStartOffset, logEnd);
        LeaderEpochs.TruncateFromEnd(logEnd);
        CleanerCheckpoint.ClampTo(Directory, logEnd);
        if (truncatedBytes > 0) active.Flush();
        AtomicFile.FsyncDirectory(Directory);
        _directoryDirty = false;
        _logLine($"{TopicPartition}: truncated to offset {logEnd} (asked {offset}): {truncatedBytes} bytes of " +
                 $"{Path.GetFileName(active.LogPath)} and {removed.Length} later segment(s) ({removed.Sum(r => (long)r.Size)} bytes) dropped");
    }

    /// <summary>Deletes every segment and starts an empty log at <paramref name="offset"/> (log start,
    /// log end and recovery point all become <paramref name="offset"/>; the epoch cache is cleared).</summary>
    public void TruncateFullyAndStartAt(long offset)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        lock (_writeLock)
        {
            BeginWrite();
            TruncateFullyLocked(offset);
        }
    }

    private void TruncateFullyLocked(long offset)
    {
        Interlocked.Increment(ref _truncations);
        try
        {
            StartAt(offset);
        }
        finally
        {
            Interlocked.Increment(ref _truncations);
        }
    }

    private void StartAt(long offset)
    {
        var removed = _segments;
        _logLine($"{TopicPartition}: emptied ({removed.Length} segment(s), {removed.Sum(r => (long)r.Size)} bytes) and restarted at offset {offset}");
        foreach (var segment in removed) ScheduleDeletion(segment);
        var fresh = LogSegment.Create(Directory, offset, Config.IndexIntervalBytes);
        Publish([fresh]);
        Volatile.Write(ref _logEndOffset, offset);
        Volatile.Write(ref _logStartOffset, offset);
        Volatile.Write(ref _recoveryPoint, offset);
        LeaderEpochs.Clear();
        CleanerCheckpoint.ClampTo(Directory, offset);
        AtomicFile.FsyncDirectory(Directory);
        _directoryDirty = false;
    }

    /// <summary>
    /// DeleteRecords: moves the log start offset forward to <paramref name="offset"/> (never back;
    /// past the log end offset throws <see cref="OffsetOutOfRangeException"/>; the caller keeps it at or
    /// below the high watermark), truncates the epoch cache from the start, and deletes the segments
    /// wholly below it (never the active one). Returns whether the log start offset moved.
    /// </summary>
    public bool AdvanceLogStartOffset(long offset)
    {
        lock (_writeLock)
        {
            BeginWrite();
            if (offset > _logEndOffset) throw new OffsetOutOfRangeException(offset, _logStartOffset, _logEndOffset);
            if (offset <= _logStartOffset) return false;
            Volatile.Write(ref _logStartOffset, offset);
            LeaderEpochs.TruncateFromStart(offset);
            int drop = 0;
            while (drop + 1 < _segments.Length && _segments[drop + 1].BaseOffset <= offset) drop++;
            DropOldest(drop);
            return true;
        }
    }

    /// <summary>Removes the <paramref name="count"/> oldest segments (never the active one) and keeps the
    /// log start offset at or above the new first segment's base offset.</summary>
    private void DropOldest(int count)
    {
        if (count == 0) return;
        var removed = _segments[..count];
        Publish(_segments[count..]);
        long firstBase = _segments[0].BaseOffset;
        if (firstBase > _logStartOffset)
        {
            Volatile.Write(ref _logStartOffset, firstBase);
            LeaderEpochs.TruncateFromStart(firstBase);
        }
        foreach (var segment in removed) ScheduleDeletion(segment);
    }
}
