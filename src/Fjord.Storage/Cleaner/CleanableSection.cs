namespace Fjord.Storage;

/// <summary>
/// Where a compacted log's dirty section lies and how dirty the log is (Kafka's cleanable offsets).
/// Segments are split into: clean (indexed by an earlier round) — those below the segment holding
/// <see cref="FirstDirtyOffset"/>; cleanable — from that segment up to
/// <see cref="FirstUncleanableOffset"/>; uncleanable — the rest, always including the active segment.
/// </summary>
/// <param name="FirstDirtyOffset">The cleaner checkpoint, or the log start offset when there is none
/// or it no longer lies inside the log (below the log start, or above the active segment's base after a truncation).</param>
/// <param name="FirstUncleanableOffset">The base offset of the first segment the cleaner must not
/// touch: the active segment, the first segment holding an offset at or above the high watermark, or
/// (min.compaction.lag.ms &gt; 0) the first whose largest timestamp is younger than the lag.</param>
/// <param name="FirstDirtyIndex">Index in the snapshot of the segment holding <see cref="FirstDirtyOffset"/>.</param>
public sealed record CleanableSection(long FirstDirtyOffset, long FirstUncleanableOffset, int FirstDirtyIndex, long CleanBytes, long CleanableBytes)
{
    /// <summary>cleanable / (clean + cleanable); 0 for an empty log.</summary>
    public double DirtyRatio => CleanBytes + CleanableBytes == 0 ? 0 : (double)CleanableBytes / (CleanBytes + CleanableBytes);

    /// <summary>Whether a round would index anything.</summary>
    public bool HasCleanableData => FirstUncleanableOffset > FirstDirtyOffset && CleanableBytes > 0;

    /// <summary>Computes the section over <paramref name="segments"/> (oldest first, the last active).</summary>
    public static CleanableSection Compute(IReadOnlyList<LogSegment> segments, long logStartOffset, long? checkpoint,
        long highWatermark, long nowMs, LogConfig config)
    {
        if (segments.Count == 0) throw new ArgumentException("a log has at least its active segment", nameof(segments));
        var active = segments[^1];
        long firstDirty = checkpoint is { } c && c >= logStartOffset && c <= active.BaseOffset ? c : logStartOffset;

        int dirtyIndex = 0;
        while (dirtyIndex + 1 < segments.Count && segments[dirtyIndex + 1].BaseOffset <= firstDirty) dirtyIndex++;

        long firstUncleanable = active.BaseOffset;
        long lagMs = config.MinCompactionLagMs;
        for (int i = dirtyIndex; i < segments.Count - 1; i++)
        {
            var segment = segments[i];
            bool aboveHighWatermark = segment.NextOffset > highWatermark;
            bool tooYoung = lagMs > 0 && LogRetention.LargestTimestampOrMtime(segment) > nowMs - lagMs;
            if (aboveHighWatermark || tooYoung)
            {
                firstUncleanable = segment.BaseOffset;
                break;
            }
        }

        long clean = 0, cleanable = 0;
        for (int i = 0; i < segments.Count - 1; i++)
        {
            if (i < dirtyIndex) clean += segments[i].Size;
            else if (segments[i].BaseOffset < firstUncleanable) cleanable += segments[i].Size;
        }
        return new CleanableSection(firstDirty, firstUncleanable, dirtyIndex, clean, cleanable);
    }
}
