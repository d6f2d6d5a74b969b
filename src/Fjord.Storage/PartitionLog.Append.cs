using System.Buffers;
using Fjord.Common;
using Fjord.Protocol.Records;

namespace Fjord.Storage;

public sealed partial class PartitionLog
{
    /// <summary>
    /// Appends a producer's batches as the leader: each must be a valid v2 batch no larger than
    /// max.message.bytes (else <see cref="LogAppendException"/>); they get offsets from the log end
    /// offset and <paramref name="leaderEpoch"/> as partition leader epoch, and under LogAppendTime the
    /// broker's clock as timestamp. The caller's buffer is not modified. Empty input appends nothing.
    /// </summary>
    public AppendResult AppendAsLeader(ReadOnlyMemory<byte> batches, int leaderEpoch)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(leaderEpoch);
        var config = Config;
        IncomingBatches.Validate(batches, config.MaxMessageBytes);
        var owned = ArrayPool<byte>.Shared.Rent(batches.Length);
        try
        {
            var bytes = owned.AsMemory(0, batches.Length);
            batches.CopyTo(bytes);
            lock (_writeLock)
            {
                BeginWrite();
                if (batches.IsEmpty) return Nothing();
                int latest = LeaderEpochs.LatestEpoch;
                if (leaderEpoch < latest)
                    throw new StorageException($"{TopicPartition}: append as leader in epoch {leaderEpoch}, but the log already has epoch {latest}");
                long firstOffset = _logEndOffset;
                RecordBatchRewriter.AssignOffsets(bytes.Span, firstOffset, leaderEpoch);
                long logAppendTime = -1;
                if (config.MessageTimestampType == TimestampType.LogAppendTime)
                {
                    logAppendTime = _clock.UnixTimeMs;
                    IncomingBatches.StampLogAppendTime(bytes.Span, logAppendTime);
                }
                var summary = IncomingBatches.Summarize(bytes);
                AppendLocked(bytes.Span, summary, config, () => LeaderEpochs.Assign(leaderEpoch, firstOffset));
                return Result(summary, logAppendTime, bytes.Length);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(owned);
        }
    }

    /// <summary>
    /// Appends batches replicated from the leader, offsets and epochs as given. The first batch must
    /// start at or after the log end offset (a compacted leader log may have gaps; an overlap throws
    /// <see cref="StorageException"/>). Each batch whose partition leader epoch is newer than the
    /// cache's latest starts that epoch in the cache.
    /// </summary>
    public AppendResult AppendAsFollower(ReadOnlyMemory<byte> batches)
    {
        IncomingBatches.Validate(batches, maxBatchBytes: null);
        var summary = IncomingBatches.Summarize(batches);
        lock (_writeLock)
        {
            BeginWrite();
            if (batches.IsEmpty) return Nothing();
            if (summary.FirstOffset < _logEndOffset)
                throw new StorageException($"{TopicPartition}: follower append at offset {summary.FirstOffset} does not continue the log end offset {_logEndOffset}");
            AppendLocked(batches.Span, summary, Config, () =>
            {
                var reader = new RecordBatchReader(batches);
                while (reader.MoveNext())
                {
                    int epoch = reader.Current.PartitionLeaderEpoch;
                    if (epoch >= 0 && epoch > LeaderEpochs.LatestEpoch) LeaderEpochs.Assign(epoch, reader.Current.BaseOffset);
                }
            });
            return Result(summary, logAppendTime: -1, batches.Length);
        }
    }

    private AppendResult Nothing() => new(_logEndOffset, _logEndOffset - 1, -1, RecordBatchLayout.NoTimestamp, -1, 0, 0, 0, _logStartOffset);

    private AppendResult Result(BatchSummary summary, long logAppendTime, int size) =>
        new(summary.FirstOffset, summary.LastOffset, logAppendTime, summary.MaxTimestamp, summary.OffsetOfMaxTimestamp,
            summary.BatchCount, summary.RecordCount, size, _logStartOffset);

    /// <summary>
    /// Rolls if needed, appends to the active segment, records the appended epochs in the epoch cache
    /// (<paramref name="assignEpochs"/>), then publishes the log end offset, and applies the flush policy.
    /// </summary>
    /// <remarks>
    /// Invariant: the epoch cache covers every offset below the published log end offset. Readers take
    /// no lock and bound themselves by <see cref="LogEndOffset"/>, so the cache is updated <i>before</i>
    /// the new end is published (as Kafka assigns epoch start offsets before the append): whoever sees
    /// a batch (a fetch, OffsetsForLeaderEpoch, a test) also sees its epoch's entry. The other order
    /// left a window — the checkpoint write and its fsyncs — where the data was readable and the
    /// cache still lacked its epoch.
    /// </remarks>
    private void AppendLocked(ReadOnlySpan<byte> bytes, BatchSummary summary, LogConfig config, Action assignEpochs)
    {
        var segment = MaybeRoll(bytes.Length, summary.FirstOffset, summary.LastOffset, config);
        segment.IndexIntervalBytes = config.IndexIntervalBytes;
        segment.Append(bytes);
        if (segment.RollBaseTimeMs < 0) segment.RollBaseTimeMs = _clock.UnixTimeMs;
        assignEpochs();
        Volatile.Write(ref _logEndOffset, summary.LastOffset + 1);
        _unflushedMessages += summary.RecordCount;
        if (_unflushedMessages >= config.FlushMessages || _clock.MonotonicMs - _lastFlushMs >= config.FlushMs)
            FlushLocked(long.MaxValue);
    }

    /// <summary>
    /// The segment to append to: a new one (based at <paramref name="firstOffset"/>) when the active
    /// segment would pass segment.bytes, is older than segment.ms, or cannot index
    /// <paramref name="lastOffset"/> as an int32 relative offset. An empty active segment is replaced
    /// rather than left behind. The rolled segment is flushed (the recovery point moves past it).
    /// </summary>
    private LogSegment MaybeRoll(int appendBytes, long firstOffset, long lastOffset, LogConfig config)
    {
        var active = ActiveSegment;
        bool offsetOverflow = lastOffset - active.BaseOffset > int.MaxValue;
        bool full = (long)active.Size + appendBytes > config.SegmentBytes;
        bool old = active.RollBaseTimeMs >= 0 && _clock.UnixTimeMs - active.RollBaseTimeMs >= config.SegmentMs;
        if (active.IsEmpty ? !offsetOverflow : !(offsetOverflow || full || old)) return active;
        return Roll(firstOffset);
    }

    private LogSegment Roll(long newBaseOffset)
    {
        var active = ActiveSegment;
        var kept = _segments;
        if (active.IsEmpty)
        {
            kept = _segments[..^1];
            ScheduleDeletion(active);
        }
        else
        {
            active.OnBecomeInactive();
            ScheduleRollFlush(newBaseOffset);
        }
        var segment = LogSegment.Create(Directory, newBaseOffset, Config.IndexIntervalBytes);
        _directoryDirty = true;
        Publish([.. kept, segment]);
        return segment;
    }

    /// <summary>
    /// The segments a roll leaves behind are fsynced in the background (as Kafka does), not under
    /// the write lock: an fsync of a full segment can take most of a second, and appends must not
    /// wait for it. Once done, the recovery point rises to <paramref name="newBaseOffset"/> — unless
    /// the log was truncated or closed meanwhile (its offsets may then hold other, unflushed data).
    /// Rolls' flushes run one after another, in order.
    /// The background task only fsyncs (<see cref="LogSegment.SyncToDisk"/>): it never writes a file.
    /// The segments' pending index entries are written first, here, under the lock.
    /// A background write of them raced a truncation back into that segment (or a new log instance
    /// on the same files after an abandoned one) and could leave entries of truncated batches in the
    /// index file, which a later clean open trusted: reads and truncations then started scanning in
    /// the middle of a batch.
    /// </summary>
    private void ScheduleRollFlush(long newBaseOffset)
    {
        long recoveryPoint = _recoveryPoint;
        var toFlush = new List<LogSegment>();
        var segments = _segments;
        for (int i = 0; i < segments.Length; i++)
        {
            long segmentEnd = i + 1 < segments.Length ? segments[i + 1].BaseOffset : long.MaxValue;
            if (segments[i].BaseOffset < newBaseOffset && segmentEnd > recoveryPoint) toFlush.Add(segments[i]);
        }
        // Their index entries reach the files here, under the lock (a segment recovered at open may
        // hold some too); the background task only fsyncs.
        foreach (var segment in toFlush) segment.WritePendingIndexEntries();
        long truncations = Interlocked.Read(ref _truncations);
        var previous = _rollFlush;
        _rollFlush = Task.Run(async () =>
        {
            await previous.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            try
            {
                foreach (var segment in toFlush) segment.SyncToDisk();
            }
            catch (ObjectDisposedException)
            {
                return; // closed or deleted meanwhile: Close flushes what is left, a deleted segment needs nothing
            }
            catch (IOException e)
            {
                // The recovery point stays: the next flush or the next start's recovery covers these offsets.
                _logLine($"{TopicPartition}: background flush of rolled segments failed: {e.Message}");
                return;
            }
            lock (_writeLock)
            {
                if (_closed || Interlocked.Read(ref _truncations) != truncations) return;
                if (_directoryDirty)
                {
                    AtomicFile.FsyncDirectory(Directory);
                    _directoryDirty = false;
                }
                long upTo = Math.Min(newBaseOffset, _logEndOffset);
                if (upTo > _recoveryPoint) Volatile.Write(ref _recoveryPoint, upTo);
            }
        });
    }
}
