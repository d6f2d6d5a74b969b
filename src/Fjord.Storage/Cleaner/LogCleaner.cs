using Fjord.Common;
using Fjord.Protocol.Compression;

namespace Fjord.Storage;

/// <summary>
/// Kafka-style log compaction for logs whose cleanup.policy contains compact: keeps the latest
/// record of every key, at its original offset, and removes tombstones once their delete horizon
/// (delete.retention.ms after the first cleaning that saw them) has passed.
/// </summary>
/// <remarks>
/// <para>One round (<see cref="Clean"/>):
/// 1. <see cref="CleanableSection"/>: the dirty section runs from the checkpoint
///    (<see cref="CleanerCheckpoint"/>) to the first uncleanable offset (active segment, high
///    watermark, min.compaction.lag.ms).
/// 2. Index: every keyed record of the dirty section goes into the <see cref="OffsetMap"/>
///    (key hash → latest offset), front to back, until the section ends or the map is full; the
///    round then covers offsets up to the map's latest offset (EndOffset - 1).
/// 3. Rewrite: every closed segment below EndOffset — clean ones too — is read front to back and
///    filtered batch by batch (<see cref="BatchFilter"/>) into a new <c>.cleaned</c> segment per group of
///    old segments (groups of at most segment.bytes, offsets within int32 of the group's base); each
///    group is swapped in by <see cref="PartitionLog.ReplaceSegments"/> as soon as it is written.
/// 4. The checkpoint becomes EndOffset.</para>
/// <para>Invariants: offsets never change (records keep theirs, batches keep baseOffset and record
/// deltas; each cleaned segment keeps the base offset of the first segment it replaces and ends with
/// the batch that ended the last one, emptied if need be, so the offsets a segment spans are kept);
/// the log end offset and the active segment are never touched; only data below the high watermark
/// is rewritten; a record is removed only when a newer record with its key exists in the log, or it
/// is a tombstone past its horizon. Control and transactional batches are kept unchanged (and their
/// records are not indexed) in this first version. A crash at any point leaves either the old or
/// the new segments of a group (the log's swap protocol) and a checkpoint no further than the data
/// actually cleaned; rerunning a round is always safe.</para>
/// <para>Threads: a cleaner is used by one thread at a time (it owns the map and buffers). It
/// reads closed segments without locks while appends continue, and holds the log's write lock only
/// inside <see cref="PartitionLog.ReplaceSegments"/>. Retention must not run on the same log during
/// a round (the swap refuses segments that changed meanwhile).</para>
/// </remarks>
public sealed partial class LogCleaner : IDisposable
{
    private readonly IClock _clock;
    private readonly CleanerOptions _options;
    private readonly Action<string> _log;
    private readonly BatchFilter _filter;
    private readonly PooledBufferWriter _output = new();
    private OffsetMap? _map;

    public LogCleaner(IClock clock, CleanerOptions? options = null, Action<string>? log = null)
    {
        _clock = clock;
        _options = (options ?? CleanerOptions.Default).Validate();
        _log = log ?? (_ => { });
        _filter = new BatchFilter(_options.MaxDecompressedBatchBytes);
    }

    /// <summary>The dirty section of <paramref name="log"/> as a round would see it now.</summary>
    public CleanableSection Inspect(PartitionLog log, long highWatermark) =>
        CleanableSection.Compute(log.SegmentsSnapshot, log.LogStartOffset, CleanerCheckpoint.Read(log.Directory),
            highWatermark, _clock.UnixTimeMs, log.Config);

    /// <summary>Runs a round when the policy contains compact and the dirty ratio exceeds
    /// min.cleanable.dirty.ratio; null when it did not run.</summary>
    public CleanResult? CleanIfNeeded(PartitionLog log, long highWatermark)
    {
        var config = log.Config;
        if (!config.CleanupPolicy.HasFlag(CleanupPolicy.Compact)) return null;
        var section = Inspect(log, highWatermark);
        if (!section.HasCleanableData || section.DirtyRatio <= config.MinCleanableDirtyRatio) return null;
        return Clean(log, highWatermark);
    }

    /// <summary>
    /// Runs one round whatever the dirty ratio; null when the policy does not contain compact or
    /// there is nothing cleanable. A corrupt batch throws <see cref="StorageException"/> naming the
    /// segment and position; a log that changed under the round (its segments deleted or
    /// truncated meanwhile) throws <see cref="LogCleaningAbortedException"/>. Either way groups
    /// swapped before the failure stay cleaned and the checkpoint does not move.
    /// </summary>
    public CleanResult? Clean(PartitionLog log, long highWatermark)
    {
        var config = log.Config;
        if (!config.CleanupPolicy.HasFlag(CleanupPolicy.Compact)) return null;
        long startedMs = _clock.MonotonicMs, nowMs = _clock.UnixTimeMs;
        var segments = log.SegmentsSnapshot;
        var section = CleanableSection.Compute(segments, log.LogStartOffset, CleanerCheckpoint.Read(log.Directory), highWatermark, nowMs, config);
        if (!section.HasCleanableData) return null;

        int maxBatchBytes = Math.Max(_options.MaxBatchBytes, config.MaxMessageBytes);
        var map = _map ??= new OffsetMap(_options.DedupeBufferBytes, _options.DedupeBufferLoadFactor);
        bool full = IndexDirtySection(segments, section, map, maxBatchBytes);
        long endOffset = map.LatestOffset + 1;
        if (endOffset <= section.FirstDirtyOffset || endOffset > section.FirstUncleanableOffset)
            throw new InvalidOperationException($"{log.TopicPartition}: the key map ends at {endOffset}, outside the dirty section " +
                $"[{section.FirstDirtyOffset}, {section.FirstUncleanableOffset}): a segment holds offsets past the next one's base");

        var toClean = new List<LogSegment>();
        for (int i = 0; i < segments.Count - 1 && segments[i].BaseOffset < endOffset; i++) toClean.Add(segments[i]);
        var stats = new RewriteStats();
        var groups = GroupBySize(toClean, config.SegmentBytes);
        foreach (var group in groups)
            RewriteGroup(log, group, new CleaningRules(map, nowMs, config.DeleteRetentionMs, group[^1].NextOffset), maxBatchBytes, stats);
        CleanerCheckpoint.Write(log.Directory, endOffset);

        var result = new CleanResult(log.TopicPartition, section.FirstDirtyOffset, endOffset, section.FirstUncleanableOffset, full,
            toClean.Count, groups.Count, stats.BytesBefore, stats.BytesAfter, stats.RecordsRead, stats.RecordsKept,
            stats.TombstonesDropped, map.Count, _clock.MonotonicMs - startedMs);
        _log(result.ToString());
        return result;
    }

    /// <summary>
    /// Consecutive segments grouped so each group's bytes stay within <paramref name="maxBytes"/>
    /// (a segment larger than that is a group of its own) and its offsets within int32 of its base.
    /// </summary>
    internal static List<List<LogSegment>> GroupBySize(IReadOnlyList<LogSegment> segments, int maxBytes)
    {
        var groups = new List<List<LogSegment>>();
        List<LogSegment>? current = null;
        long bytes = 0;
        foreach (var segment in segments)
        {
            bool fits = current is not null && bytes + segment.Size <= maxBytes
                && Math.Max(segment.NextOffset, segment.BaseOffset + 1) - 1 - current[0].BaseOffset <= int.MaxValue;
            if (!fits)
            {
                current = [];
                groups.Add(current);
                bytes = 0;
            }
            current!.Add(segment);
            bytes += segment.Size;
        }
        return groups;
    }

    public void Dispose()
    {
        _filter.Dispose();
        _output.Dispose();
    }
}
