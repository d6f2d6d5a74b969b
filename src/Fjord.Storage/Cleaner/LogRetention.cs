namespace Fjord.Storage;

/// <summary>What one retention pass deleted, by reason, for a log line.</summary>
public sealed record RetentionResult(TopicPartition TopicPartition, int DeletedByTime, int DeletedBySize, int DeletedBelowLogStart,
    long BytesDeleted, long LogStartOffset)
{
    public int SegmentsDeleted => DeletedByTime + DeletedBySize + DeletedBelowLogStart;

    public override string ToString() =>
        $"{TopicPartition}: retention deleted {SegmentsDeleted} segment(s), {BytesDeleted} bytes " +
        $"(retention.ms: {DeletedByTime}, retention.bytes: {DeletedBySize}, below log start: {DeletedBelowLogStart}); log start offset now {LogStartOffset}";
}

/// <summary>
/// Kafka's segment retention: deletes whole closed segments from the front of a log.
/// </summary>
/// <remarks>
/// Three rules, applied in this order, each deleting a prefix of the closed segments:
/// 1. retention.ms (policy contains delete, retention.ms ≥ 0): a segment whose largest timestamp is
///    more than retention.ms before now (a segment without timestamps uses its file's mtime, as Kafka does);
/// 2. retention.bytes (policy contains delete, retention.bytes ≥ 0): the oldest segments while the
///    log would still hold at least retention.bytes without them;
/// 3. any policy: segments wholly below the log start offset (left behind by DeleteRecords).
/// Invariants (held by <see cref="PartitionLog.DeleteOldestSegments"/>): the active segment is never
/// deleted, nor a segment whose next offset is above <c>highWatermark</c>; the log start offset
/// only moves forward. Runs on the caller's thread; takes the log's write lock once per rule.
/// Must not run concurrently with a <see cref="LogCleaner"/> round on the same log.
/// </remarks>
public static class LogRetention
{
    /// <summary>Applies the three rules to <paramref name="log"/> at <paramref name="nowMs"/>
    /// (<see cref="Fjord.Common.IClock.UnixTimeMs"/>), deleting nothing at or above
    /// <paramref name="highWatermark"/>.</summary>
    public static RetentionResult Apply(PartitionLog log, long highWatermark, long nowMs)
    {
        var config = log.Config;
        bool delete = config.CleanupPolicy.HasFlag(CleanupPolicy.Delete);
        long bytes = 0;
        int byTime = 0, bySize = 0;

        if (delete && config.RetentionMs >= 0)
            byTime = Delete(log, highWatermark, segment => nowMs - LargestTimestampOrMtime(segment) > config.RetentionMs, ref bytes);

        if (delete && config.RetentionBytes >= 0)
        {
            long excess = log.SizeInBytes - config.RetentionBytes;
            bySize = Delete(log, highWatermark, segment =>
            {
                if (excess - segment.Size < 0) return false;
                excess -= segment.Size;
                return true;
            }, ref bytes);
        }

        long logStart = log.LogStartOffset;
        int belowStart = Delete(log, highWatermark, segment => segment.NextOffset <= logStart && segment.BaseOffset < logStart, ref bytes);
        return new RetentionResult(log.TopicPartition, byTime, bySize, belowStart, bytes, log.LogStartOffset);
    }

    /// <summary>Runs one deletion; adds the deleted segments' sizes (measured as the predicate
    /// accepted them, oldest first) to <paramref name="bytes"/>.</summary>
    private static int Delete(PartitionLog log, long highWatermark, Func<LogSegment, bool> predicate, ref long bytes)
    {
        var accepted = new List<long>();
        int deleted = log.DeleteOldestSegments(segment =>
        {
            if (!predicate(segment)) return false;
            accepted.Add(segment.Size);
            return true;
        }, highWatermark);
        for (int i = 0; i < deleted && i < accepted.Count; i++) bytes += accepted[i];
        return deleted;
    }

    /// <summary>The segment's largest record timestamp, or its file's last write time when it has none.</summary>
    internal static long LargestTimestampOrMtime(LogSegment segment)
    {
        long largest = segment.LargestTimestamp;
        if (largest >= 0) return largest;
        return new DateTimeOffset(File.GetLastWriteTimeUtc(segment.LogPath)).ToUnixTimeMilliseconds();
    }
}
