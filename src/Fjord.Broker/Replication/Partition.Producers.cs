using Fjord.Common;
using Fjord.Metadata;
using Fjord.Protocol;
using Fjord.Protocol.Messages;
using Fjord.Protocol.Records;
using Fjord.Storage;

namespace Fjord.Broker.Replication;

/// <summary>The partition's producers: transactional appends (markers, LSO, aborted and ongoing
/// transactions) and the producer-state table's lifecycle (load from snapshot + log, snapshot
/// files, producer-id expiry). Same lock and invariants as the rest of <see cref="Partition"/>.</summary>
public sealed partial class Partition
{
    // ------------------------------------------------------------------ transactions

    /// <summary>
    /// Appends an end-transaction marker (a one-record control batch: COMMIT or ABORT, the coordinator
    /// epoch, the producer's id and epoch) as leader, as the transaction coordinator asks through
    /// WriteTxnMarkers: checks the role, min.insync.replicas (markers are written with acks=all),
    /// the producer's epoch (INVALID_PRODUCER_EPOCH) and coordinator epoch
    /// (TRANSACTION_COORDINATOR_FENCED), then appends and closes the producer's transaction. The caller
    /// waits for the HW to pass the marker (<see cref="WaitForHighWatermark"/>).
    /// </summary>
    internal LeaderAppendOutcome AppendTxnMarker(long producerId, short producerEpoch, int coordinatorEpoch, bool commit)
    {
        if (producerId < 0 || producerEpoch < 0)
            return LeaderAppendOutcome.Failed(ErrorCode.InvalidRequest, $"invalid producer id {producerId} / epoch {producerEpoch} for a marker");
        lock (_lock)
        {
            if (_role != ReplicaRole.Leader) return LeaderAppendOutcome.Failed(ErrorCode.NotLeaderOrFollower);
            if (_isr.Length < MinInsyncReplicas)
                return LeaderAppendOutcome.Failed(ErrorCode.NotEnoughReplicas,
                    $"the ISR has {_isr.Length} member(s); min.insync.replicas is {MinInsyncReplicas}");
            var (error, message) = Producers.CheckMarker(producerId, producerEpoch, coordinatorEpoch);
            if (error != ErrorCode.None) return LeaderAppendOutcome.Failed(error, message);
            var batch = EndTransactionMarker.BuildBatch(commit, coordinatorEpoch, producerId, producerEpoch, _clock.UnixTimeMs);
            if (!TryAppendLocked(batch, "marker append", out var result, out var failure)) return failure;
            long timestamp = result.LogAppendTime >= 0 ? result.LogAppendTime : result.MaxTimestamp;
            Producers.RecordMarker(producerId, producerEpoch, coordinatorEpoch, commit, result.FirstOffset, timestamp);
            MaybeIncrementHighWatermarkLocked(_clock.MonotonicMs);
            CompleteAckWaitersLocked();
            SignalWatchersLocked();
            return new LeaderAppendOutcome(ErrorCode.None, null, result.FirstOffset, result.LastOffset, result.LogAppendTime, result.LogStartOffset);
        }
    }

    /// <summary>
    /// The aborted transactions a READ_COMMITTED fetch from <paramref name="fetchOffset"/> must carry
    /// when its data ends before <paramref name="upperBoundOffset"/> (see <see cref="ProducerStateTable.AbortedTransactions"/>).
    /// </summary>
    public IReadOnlyList<(long ProducerId, long FirstOffset, long LastOffset)> AbortedTransactions(long fetchOffset, long upperBoundOffset)
    {
        lock (_lock)
            return Producers.AbortedTransactions(fetchOffset, upperBoundOffset).Select(a => (a.ProducerId, a.FirstOffset, a.LastOffset)).ToList();
    }

    /// <summary>Producer ids with an open transaction here, by first offset.</summary>
    public IReadOnlyList<(long ProducerId, long FirstOffset)> OngoingTransactions
    {
        get
        {
            lock (_lock)
                return Producers.Snapshot().Where(p => p.CurrentTxnStartOffset >= 0).OrderBy(p => p.CurrentTxnStartOffset)
                    .Select(p => (p.ProducerId, p.CurrentTxnStartOffset)).ToList();
        }
    }

    /// <summary>Every producer this partition has state for (DescribeProducers), in producer id order.</summary>
    internal List<ProducerStateTable.ProducerSnapshot> ActiveProducers()
    {
        lock (_lock) return Producers.Snapshot();
    }

    /// <summary>Drops aborted-index entries and producer snapshots below the log start offset (after retention or DeleteRecords).</summary>
    internal void PruneTransactionIndex()
    {
        lock (_lock)
        {
            Producers.PruneAbortedBelow(Log.LogStartOffset);
            Snapshots.DeleteBelow(Log.LogStartOffset);
        }
    }

    // ------------------------------------------------------------------ producer state: load, snapshots, expiration

    /// <summary>
    /// Loads the producer state (on load): from the newest usable snapshot plus the log after it, else
    /// by scanning the whole log (see <see cref="ProducerSnapshotFiles"/>).
    /// </summary>
    internal ProducerSnapshotFiles.LoadOutcome LoadProducerState()
    {
        lock (_lock) return Snapshots.LoadInto(Producers, Log);
    }

    /// <summary>
    /// Called under the lock right after an append, before the producer table takes the appended
    /// batches: when the append rolled a segment (the segment count changed), the table describes the
    /// log up to <paramref name="endBefore"/>, and is written as the snapshot there. (A count changed by
    /// retention racing the append gives an extra, equally valid snapshot; a roll hidden by a
    /// simultaneous deletion only skips one.)
    /// </summary>
    private void SnapshotIfRolledLocked(int segmentsBefore, long endBefore)
    {
        if (Log.SegmentCount != segmentsBefore) Snapshots.Write(Producers, endBefore, sync: false);
    }

    /// <summary>
    /// Writes the snapshot at the log end (clean shutdown, after <see cref="Stop"/>: nothing is appended
    /// any more), fsynced. False when the log is closed or writing failed.
    /// </summary>
    internal bool WriteShutdownSnapshot()
    {
        lock (_lock)
        {
            if (Log.IsClosed) return false;
            return Snapshots.Write(Producers, Log.LogEndOffset, sync: true);
        }
    }

    /// <summary>Producer-id expiration (see <see cref="ProducerStateTable.RemoveExpired"/>). Returns how many producers were removed.</summary>
    internal int RemoveExpiredProducers(long nowMs, long expirationMs)
    {
        lock (_lock) return Producers.RemoveExpired(nowMs, expirationMs);
    }
}
