namespace Fjord.Storage;

/// <summary>
/// Segments leaving a log: their files are renamed to <c>.deleted</c> at once (so a restart finishes
/// the job), and closed and removed once <c>file.delete.delay.ms</c> has passed, so a reader still
/// holding a <see cref="FileRegion"/> of one keeps working until then. Deletions fall due when the
/// owning log next takes its write lock (or on <see cref="PartitionLog.DeletePendingSegments"/>).
/// Threads: the owning log's writer only.
/// </summary>
internal sealed class SegmentDeletionQueue
{
    private readonly List<(LogSegment Segment, long DueMs)> _pending = [];

    public int Count => _pending.Count;

    /// <summary>Renames <paramref name="segment"/>'s files to <c>.deleted</c> and deletes them now
    /// (delay 0) or after <paramref name="delayMs"/>. The caller fsyncs the directory.</summary>
    public void Schedule(LogSegment segment, long nowMs, long delayMs)
    {
        segment.ChangeMarker(SegmentFileNames.DeletedSuffix);
        if (delayMs <= 0) segment.DeleteFiles();
        else _pending.Add((segment, nowMs + delayMs));
    }

    /// <summary>Deletes the segments whose delay has passed; returns how many.</summary>
    public int RunDue(long nowMs)
    {
        int deleted = 0;
        for (int i = _pending.Count - 1; i >= 0; i--)
        {
            if (_pending[i].DueMs > nowMs) continue;
            _pending[i].Segment.DeleteFiles();
            _pending.RemoveAt(i);
            deleted++;
        }
        return deleted;
    }

    /// <summary>Deletes every pending segment now (the log is closing).</summary>
    public void DrainAll()
    {
        foreach (var (segment, _) in _pending) segment.DeleteFiles();
        _pending.Clear();
    }
}
