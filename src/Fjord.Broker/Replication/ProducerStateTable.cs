using Fjord.Common;
using Fjord.Protocol;
using Fjord.Protocol.Records;
using Fjord.Storage;

namespace Fjord.Broker.Replication;

/// <summary>
/// Producer state of one partition: per producer id its epoch, the sequence ranges and offsets of its
/// last <see cref="BatchesKept"/> batches (Kafka keeps 5: a producer has at most 5 requests in flight
/// per partition), its coordinator epoch and its open transaction; and for the partition the
/// ongoing transactions, the completed transactions whose marker is not yet below the high
/// watermark, and the aborted-transaction index. Loaded from the newest usable producer snapshot plus
/// the log after it (<see cref="ProducerSnapshotFiles"/>), else by scanning the log, when the partition
/// is loaded or truncated, and kept current by every append, as leader or follower.
/// </summary>
/// <remarks>
/// <para><b>Idempotence</b> (Kafka 2.5+, KIP-360): a batch whose epoch and sequence range equal one of
/// the kept batches is a duplicate and is answered with that batch's offsets, nothing appended; an
/// epoch older than the producer's is INVALID_PRODUCER_EPOCH (Kafka 2.7+ answers this in Produce at
/// every version, never PRODUCER_FENCED); a newer epoch must start at sequence 0; in the same epoch
/// the first sequence must follow the last one (Int32.MaxValue wraps to 0), else
/// OUT_OF_ORDER_SEQUENCE_NUMBER; a producer id the partition has no state for is accepted at any
/// sequence (its state may have gone with retention, DeleteRecords or producer-id expiration — never
/// UNKNOWN_PRODUCER_ID: Kafka 2.5+ accepts writes of a producer without state at any sequence).</para>
/// <para><b>Expiration</b> (<see cref="RemoveExpired"/>): a producer without an open transaction whose
/// last timestamp is producer.id.expiration.ms old is forgotten.</para>
/// <para><b>Transactions.</b> A transactional data batch opens a transaction of its producer at its
/// first offset unless one is open already (the epoch does not matter: the coordinator closes a
/// transaction before bumping the epoch). A non-transactional batch of a producer with an open
/// transaction is INVALID_TXN_STATE. A control batch with an ABORT or COMMIT record (an end-transaction
/// marker) closes the producer's transaction: the completed transaction spans [its first offset, the
/// marker's offset] (a marker without an open transaction spans only itself); an ABORT adds
/// (producer id, first offset, marker offset) to the aborted index. The marker sets the producer's
/// coordinator epoch and raises (never lowers) its epoch, forgetting its sequences when the epoch
/// changes. As leader, a marker whose epoch is older than the producer's is INVALID_PRODUCER_EPOCH and
/// one whose coordinator epoch is older is TRANSACTION_COORDINATOR_FENCED (nothing appended); batches
/// replicated from a leader or read from the log are applied as they are.</para>
/// <para><b>Last stable offset.</b> The first unstable offset is the smallest first offset among the
/// ongoing transactions and the completed ones whose marker is at or above the high watermark (so
/// nothing of a transaction becomes visible to READ_COMMITTED readers before its marker is
/// replicated); LSO = min(first unstable offset, HW), never below the log start offset.</para>
/// <para><b>Aborted index</b>: in marker-offset order (markers are appended in offset order). Entries
/// whose marker is below the log start offset are dropped by <see cref="PruneAbortedBelow"/>; a
/// truncation reloads the whole table (snapshot at or below the new end + replay, else a scan).
/// Persisted with the producers in the snapshot files (<see cref="ProducerStateSnapshot"/>); without a
/// usable snapshot it is rebuilt by the scan (the log cleaner keeps transactional and control batches
/// unchanged, so the scan sees every marker still in the log).</para>
/// <para><b>Snapshot invariant.</b> <see cref="ToSnapshot"/> at the log end O, then <see cref="LoadSnapshot"/>
/// and <see cref="Replay"/> from O, gives the same table (<see cref="Describe"/>) as applying the whole
/// log, provided the log below O has not changed (see <see cref="ProducerSnapshotFiles"/> for how that
/// is ensured).</para>
/// <para>Not thread-safe: the owning <see cref="Partition"/> serialises access under its lock.</para>
/// </remarks>
internal sealed class ProducerStateTable
{
    public const int BatchesKept = 5;

    private readonly Dictionary<long, ProducerEntry> _producers = [];

    /// <summary>Ongoing transactions as (first offset, producer id): the minimum is the earliest one.</summary>
    private readonly SortedSet<(long FirstOffset, long ProducerId)> _ongoing = [];

    /// <summary>Completed transactions whose marker may still be at or above the HW, in marker order.</summary>
    private readonly Queue<(long FirstOffset, long MarkerOffset)> _unreplicated = new();

    /// <summary>First offsets of <see cref="_unreplicated"/> (unique: each is a distinct batch's offset).</summary>
    private readonly SortedSet<long> _unreplicatedFirstOffsets = [];

    /// <summary>The aborted-transaction index, in marker order.</summary>
    private readonly List<AbortedTxn> _aborted = [];

    internal readonly record struct BatchMetadata(int FirstSequence, int LastSequence, long FirstOffset, long LastOffset, long Timestamp);

    /// <summary>An aborted transaction: its producer, first offset and the offset of its ABORT marker.</summary>
    public readonly record struct AbortedTxn(long ProducerId, long FirstOffset, long LastOffset);

    /// <summary>What DescribeProducers reports of one producer.</summary>
    public readonly record struct ProducerSnapshot(long ProducerId, short Epoch, int LastSequence, long LastTimestamp, int CoordinatorEpoch,
        long CurrentTxnStartOffset);

    internal sealed class ProducerEntry(short epoch)
    {
        public short Epoch { get; set; } = epoch;
        public List<BatchMetadata> Batches { get; } = new(BatchesKept);

        /// <summary>Coordinator epoch of the last marker (-1 before any).</summary>
        public int CoordinatorEpoch { get; set; } = -1;

        /// <summary>First offset of the open transaction, -1 when none is open.</summary>
        public long CurrentTxnFirstOffset { get; set; } = -1;

        /// <summary>Timestamp of the last batch or marker (-1 before any).</summary>
        public long LastTimestamp { get; set; } = -1;
    }

    internal enum Verdict { Append, Duplicate, Reject }

    internal readonly record struct CheckResult(Verdict Verdict, ErrorCode Error, BatchMetadata Original, string? Message);

    public int Count => _producers.Count;

    public int OngoingCount => _ongoing.Count;

    public int AbortedCount => _aborted.Count;

    public ProducerEntry? Get(long producerId) => _producers.GetValueOrDefault(producerId);

    public void Clear()
    {
        _producers.Clear();
        _ongoing.Clear();
        _unreplicated.Clear();
        _unreplicatedFirstOffsets.Clear();
        _aborted.Clear();
    }

    // ------------------------------------------------------------------ checks (leader)

    /// <summary>Whether a client batch of <paramref name="producerId"/> may be appended (see the class remarks).</summary>
    public CheckResult Check(long producerId, short epoch, int firstSequence, int lastSequence, bool isTransactional = false)
    {
        if (!_producers.TryGetValue(producerId, out var entry)) return new(Verdict.Append, ErrorCode.None, default, null);
        if (epoch == entry.Epoch)
            foreach (var batch in entry.Batches)
                if (batch.FirstSequence == firstSequence && batch.LastSequence == lastSequence)
                    return new(Verdict.Duplicate, ErrorCode.None, batch, null);
        if (epoch < entry.Epoch)
            return new(Verdict.Reject, ErrorCode.InvalidProducerEpoch, default,
                $"producer {producerId} has epoch {epoch}, older than the current epoch {entry.Epoch}");
        if (epoch > entry.Epoch)
        {
            if (firstSequence != 0)
                return new(Verdict.Reject, ErrorCode.OutOfOrderSequenceNumber, default,
                    $"producer {producerId}: the first batch of the new epoch {epoch} has sequence {firstSequence}, not 0");
        }
        else
        {
            int last = entry.Batches.Count > 0 ? entry.Batches[^1].LastSequence : RecordBatchLayout.NoSequence;
            if (!InSequence(last, firstSequence))
                return new(Verdict.Reject, ErrorCode.OutOfOrderSequenceNumber, default,
                    $"producer {producerId} epoch {epoch}: sequence {firstSequence} does not follow {last}");
        }
        if (!isTransactional && entry.CurrentTxnFirstOffset >= 0)
            return new(Verdict.Reject, ErrorCode.InvalidTxnState, default,
                $"producer {producerId} has a transaction open since offset {entry.CurrentTxnFirstOffset}: a non-transactional write is not allowed");
        return new(Verdict.Append, ErrorCode.None, default, null);
    }

    private static bool InSequence(int lastSequence, int nextSequence) =>
        (long)nextSequence == lastSequence + 1L || (nextSequence == 0 && lastSequence == int.MaxValue);

    /// <summary>Whether the coordinator may end the transaction of <paramref name="producerId"/> (see the class remarks).</summary>
    public (ErrorCode Error, string? Message) CheckMarker(long producerId, short epoch, int coordinatorEpoch)
    {
        if (!_producers.TryGetValue(producerId, out var entry)) return (ErrorCode.None, null);
        if (epoch < entry.Epoch)
            return (ErrorCode.InvalidProducerEpoch, $"marker for producer {producerId} has epoch {epoch}, older than the current epoch {entry.Epoch}");
        if (coordinatorEpoch < entry.CoordinatorEpoch)
            return (ErrorCode.TransactionCoordinatorFenced,
                $"marker for producer {producerId} has coordinator epoch {coordinatorEpoch}, older than {entry.CoordinatorEpoch}");
        return (ErrorCode.None, null);
    }

    // ------------------------------------------------------------------ updates

    /// <summary>Records an appended data batch (a newer or different epoch forgets the older batches); a transactional one opens a transaction if none is open.</summary>
    public void Record(long producerId, short epoch, int firstSequence, int lastSequence, long firstOffset, long lastOffset, long timestamp,
        bool isTransactional = false)
    {
        var entry = EntryFor(producerId, epoch);
        entry.Batches.Add(new BatchMetadata(firstSequence, lastSequence, firstOffset, lastOffset, timestamp));
        if (entry.Batches.Count > BatchesKept) entry.Batches.RemoveAt(0);
        entry.LastTimestamp = timestamp;
        if (isTransactional && entry.CurrentTxnFirstOffset < 0)
        {
            entry.CurrentTxnFirstOffset = firstOffset;
            _ongoing.Add((firstOffset, producerId));
        }
    }

    /// <summary>A control batch of <paramref name="producerId"/> that is not a transaction marker: only its epoch counts (raised, never lowered).</summary>
    public void RecordControl(long producerId, short epoch)
    {
        if (_producers.TryGetValue(producerId, out var entry) && epoch < entry.Epoch) return;
        EntryFor(producerId, epoch);
    }

    /// <summary>
    /// An end-transaction marker of <paramref name="producerId"/> at <paramref name="markerOffset"/>:
    /// closes its transaction (see the class remarks). Returns the completed transaction's first offset.
    /// </summary>
    public long RecordMarker(long producerId, short epoch, int coordinatorEpoch, bool commit, long markerOffset, long timestamp)
    {
        if (!_producers.TryGetValue(producerId, out var entry) || epoch >= entry.Epoch) entry = EntryFor(producerId, epoch);
        long first = entry.CurrentTxnFirstOffset >= 0 ? entry.CurrentTxnFirstOffset : markerOffset;
        if (entry.CurrentTxnFirstOffset >= 0) _ongoing.Remove((entry.CurrentTxnFirstOffset, producerId));
        entry.CurrentTxnFirstOffset = -1;
        entry.CoordinatorEpoch = coordinatorEpoch;
        entry.LastTimestamp = timestamp;
        if (_unreplicatedFirstOffsets.Add(first)) _unreplicated.Enqueue((first, markerOffset));
        if (!commit) _aborted.Add(new AbortedTxn(producerId, first, markerOffset));
        return first;
    }

    private ProducerEntry EntryFor(long producerId, short epoch)
    {
        if (!_producers.TryGetValue(producerId, out var entry))
        {
            entry = new ProducerEntry(epoch);
            _producers[producerId] = entry;
        }
        else if (entry.Epoch != epoch)
        {
            entry.Epoch = epoch;
            entry.Batches.Clear();
        }
        return entry;
    }

    // ------------------------------------------------------------------ queries

    /// <summary>
    /// The last stable offset for <paramref name="highWatermark"/>: min(first unstable offset, HW), at
    /// least <paramref name="logStartOffset"/>. Forgets the completed transactions whose marker is now
    /// below the HW (the HW never goes down without a rebuild).
    /// </summary>
    public long LastStableOffset(long highWatermark, long logStartOffset)
    {
        // Bounded by the queue's length; each round removes one entry.
        while (_unreplicated.Count > 0 && _unreplicated.Peek().MarkerOffset < highWatermark)
            _unreplicatedFirstOffsets.Remove(_unreplicated.Dequeue().FirstOffset);
        long lso = highWatermark;
        if (_ongoing.Count > 0) lso = Math.Min(lso, _ongoing.Min.FirstOffset);
        if (_unreplicatedFirstOffsets.Count > 0) lso = Math.Min(lso, _unreplicatedFirstOffsets.Min);
        return Math.Max(lso, logStartOffset);
    }

    /// <summary>
    /// The aborted transactions a READ_COMMITTED fetch from <paramref name="fetchOffset"/> whose data ends
    /// before <paramref name="upperBoundOffset"/> must carry: those whose marker is at or after the fetch
    /// offset and whose first offset is below the bound, in marker order.
    /// </summary>
    public List<AbortedTxn> AbortedTransactions(long fetchOffset, long upperBoundOffset)
    {
        var result = new List<AbortedTxn>();
        for (int i = FirstAbortedAtOrAfter(fetchOffset); i < _aborted.Count; i++)
            if (_aborted[i].FirstOffset < upperBoundOffset) result.Add(_aborted[i]);
        return result;
    }

    /// <summary>Index of the first aborted entry whose marker offset ≥ <paramref name="offset"/> (binary search: the list is in marker order).</summary>
    private int FirstAbortedAtOrAfter(long offset)
    {
        int low = 0, high = _aborted.Count;
        while (low < high)
        {
            int mid = (low + high) >>> 1;
            if (_aborted[mid].LastOffset < offset) low = mid + 1;
            else high = mid;
        }
        return low;
    }

    /// <summary>Drops the aborted entries whose marker is below <paramref name="logStartOffset"/> (retention, DeleteRecords). Returns how many.</summary>
    public int PruneAbortedBelow(long logStartOffset)
    {
        int count = FirstAbortedAtOrAfter(logStartOffset);
        if (count > 0) _aborted.RemoveRange(0, count);
        return count;
    }

    /// <summary>Every producer this partition has state for, in producer id order.</summary>
    public List<ProducerSnapshot> Snapshot() =>
        _producers.OrderBy(p => p.Key).Select(p => new ProducerSnapshot(p.Key, p.Value.Epoch,
            p.Value.Batches.Count > 0 ? p.Value.Batches[^1].LastSequence : RecordBatchLayout.NoSequence,
            p.Value.LastTimestamp, p.Value.CoordinatorEpoch, p.Value.CurrentTxnFirstOffset)).ToList();

    // ------------------------------------------------------------------ applying the log

    /// <summary>Applies every batch of <paramref name="batches"/> (already in a log, offsets assigned).</summary>
    public void ApplyAppended(ReadOnlyMemory<byte> batches)
    {
        var reader = new RecordBatchReader(batches);
        while (reader.MoveNext()) Apply(reader.Current);
    }

    private void Apply(RecordBatch batch)
    {
        long producerId = batch.ProducerId;
        if (producerId < 0) return;
        if (batch.IsControl)
        {
            if (ReadMarker(batch) is { } marker)
                RecordMarker(producerId, batch.ProducerEpoch, marker.CoordinatorEpoch, marker.IsCommit, batch.BaseOffset, batch.MaxTimestamp);
            else
                RecordControl(producerId, batch.ProducerEpoch);
            return;
        }
        if (batch.BaseSequence < 0) return;
        Record(producerId, batch.ProducerEpoch, batch.BaseSequence, batch.LastSequence, batch.BaseOffset, batch.LastOffset, batch.MaxTimestamp,
            batch.IsTransactional);
    }

    /// <summary>The end-transaction marker a control batch holds (its first record), or null when it holds another control record or cannot be read.</summary>
    internal static EndTransactionMarker? ReadMarker(RecordBatch batch)
    {
        try
        {
            using var records = batch.OpenRecords(1 << 20);
            foreach (var record in records)
            {
                var key = ControlRecordKey.Read(record.KeySpan);
                if (key.Type is not (ControlRecordType.Abort or ControlRecordType.Commit)) return null;
                return EndTransactionMarker.Read(key.Type, record.ValueSpan);
            }
        }
        catch (ProtocolDecodeException)
        {
        }
        return null;
    }

    /// <summary>
    /// Forgets everything and scans <paramref name="log"/> from its start offset to its end, in chunks
    /// of at most <paramref name="chunkBytes"/> (a larger batch is read whole). Returns the batches scanned.
    /// </summary>
    public long Rebuild(PartitionLog log, int chunkBytes = 1024 * 1024)
    {
        Clear();
        long batches = Replay(log, log.LogStartOffset, chunkBytes);
        PruneAbortedBelow(log.LogStartOffset);
        return batches;
    }

    /// <summary>
    /// Applies the batches of <paramref name="log"/> from <paramref name="fromOffset"/> (a batch boundary:
    /// the log end some snapshot covered; never below the log start) to its end, on top of the current
    /// state. Batches ending before <paramref name="fromOffset"/> are skipped. Returns the batches applied.
    /// </summary>
    public long Replay(PartitionLog log, long fromOffset, int chunkBytes = 1024 * 1024)
    {
        long offset = Math.Max(fromOffset, log.LogStartOffset);
        long start = offset;
        long end = log.LogEndOffset;
        long batches = 0;
        // Each round consumes at least one batch, so the loop ends within (end - start) rounds.
        for (long round = 0; offset < end && round <= end - start; round++)
        {
            LogReadResult read;
            try
            {
                read = log.Read(offset, chunkBytes, end, minOneBatch: true);
            }
            catch (OffsetOutOfRangeException)
            {
                break;
            }
            if (read.IsEmpty) break;
            var reader = new RecordBatchReader(read.ToArray());
            long next = offset;
            try
            {
                while (reader.MoveNext())
                {
                    var batch = reader.Current;
                    if (batch.LastOffset >= fromOffset)
                    {
                        Apply(batch);
                        batches++;
                    }
                    next = Math.Max(next, batch.LastOffset + 1);
                }
            }
            catch (ProtocolDecodeException)
            {
                break; // the log validated these batches on append; a bad one here ends the scan
            }
            if (next <= offset) break;
            offset = next;
        }
        return batches;
    }

    // ------------------------------------------------------------------ producer-id expiration

    /// <summary>
    /// Producer-id expiration (Kafka's <c>producer.id.expiration.ms</c>): forgets every producer without an
    /// open transaction whose last timestamp (the max timestamp of its last batch or marker, -1 before
    /// any) is at least <paramref name="expirationMs"/> older than <paramref name="nowMs"/>. A forgotten
    /// producer is an unknown one again: its next batch is accepted at any sequence and epoch (see the
    /// class remarks), and retries of its old batches are no longer recognised as duplicates. The
    /// aborted index and the completed transactions are not touched. Returns how many were removed.
    /// </summary>
    public int RemoveExpired(long nowMs, long expirationMs)
    {
        List<long>? expired = null;
        foreach (var (id, entry) in _producers)
            if (entry.CurrentTxnFirstOffset < 0 && nowMs - entry.LastTimestamp >= expirationMs) (expired ??= []).Add(id);
        if (expired is null) return 0;
        foreach (long id in expired) _producers.Remove(id);
        return expired.Count;
    }

    // ------------------------------------------------------------------ snapshots

    /// <summary>
    /// The whole state in the snapshot file layout (see <see cref="ProducerStateSnapshot"/>), covering
    /// the log up to <paramref name="snapshotOffset"/> (exclusive).
    /// </summary>
    public byte[] ToSnapshot(long snapshotOffset)
    {
        var producers = _producers.OrderBy(p => p.Key).Select(p => new ProducerStateSnapshot.Producer(p.Key, p.Value.Epoch, p.Value.CoordinatorEpoch,
            p.Value.CurrentTxnFirstOffset, p.Value.LastTimestamp, [.. p.Value.Batches])).ToList();
        return ProducerStateSnapshot.Encode(snapshotOffset, producers, _aborted, [.. _unreplicated]);
    }

    /// <summary>Forgets everything and takes the state of a decoded snapshot.</summary>
    public void LoadSnapshot(ProducerStateSnapshot.Contents contents)
    {
        Clear();
        foreach (var p in contents.Producers)
        {
            var entry = new ProducerEntry(p.Epoch) { CoordinatorEpoch = p.CoordinatorEpoch, CurrentTxnFirstOffset = p.CurrentTxnFirstOffset, LastTimestamp = p.LastTimestamp };
            entry.Batches.AddRange(p.Batches);
            _producers[p.ProducerId] = entry;
            if (p.CurrentTxnFirstOffset >= 0) _ongoing.Add((p.CurrentTxnFirstOffset, p.ProducerId));
        }
        _aborted.AddRange(contents.Aborted);
        foreach (var u in contents.Unreplicated)
            if (_unreplicatedFirstOffsets.Add(u.FirstOffset)) _unreplicated.Enqueue(u);
    }

    /// <summary>
    /// A canonical text of the whole state (producers by id with their kept batches, ongoing and
    /// completed-unreplicated transactions, aborted index): two tables are equivalent iff their texts are
    /// equal. For tests and diagnostics.
    /// </summary>
    internal string Describe()
    {
        var text = new System.Text.StringBuilder();
        foreach (var (id, e) in _producers.OrderBy(p => p.Key))
        {
            text.Append(System.Globalization.CultureInfo.InvariantCulture,
                $"P {id} e={e.Epoch} ce={e.CoordinatorEpoch} txn={e.CurrentTxnFirstOffset} ts={e.LastTimestamp}");
            foreach (var b in e.Batches)
                text.Append(System.Globalization.CultureInfo.InvariantCulture, $" [{b.FirstSequence}-{b.LastSequence}@{b.FirstOffset}-{b.LastOffset} t{b.Timestamp}]");
            text.Append('\n');
        }
        foreach (var (first, pid) in _ongoing) text.Append(System.Globalization.CultureInfo.InvariantCulture, $"O {pid}@{first}\n");
        foreach (var (first, marker) in _unreplicated) text.Append(System.Globalization.CultureInfo.InvariantCulture, $"U {first}-{marker}\n");
        foreach (var a in _aborted) text.Append(System.Globalization.CultureInfo.InvariantCulture, $"A {a.ProducerId} {a.FirstOffset}-{a.LastOffset}\n");
        return text.ToString();
    }
}
