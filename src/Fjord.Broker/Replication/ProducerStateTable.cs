using Fjord.Common;
using Fjord.Protocol;
using Fjord.Protocol.Records;
using Fjord.Storage;

namespace Fjord.Broker.Replication;

/// <summary>
/// Idempotent-producer state of one partition: per producer id its epoch and the sequence ranges and
/// offsets of its last <see cref="BatchesKept"/> batches (Kafka keeps 5: a producer has at most 5
/// requests in flight per partition). Built by scanning the log when the partition is loaded or
/// truncated, and kept current by every append, as leader or follower.
/// </summary>
/// <remarks>
/// Rules (Kafka 2.5+, KIP-360): a batch whose epoch and sequence range equal one of the kept batches is
/// a duplicate and is answered with that batch's offsets, nothing appended; an epoch older than the
/// producer's is INVALID_PRODUCER_EPOCH; a newer epoch must start at sequence 0; in the same epoch the
/// first sequence must follow the last one (Int32.MaxValue wraps to 0), else
/// OUT_OF_ORDER_SEQUENCE_NUMBER; a producer id the partition has no state for is accepted at any
/// sequence (its state may have gone with retention or DeleteRecords — never UNKNOWN_PRODUCER_ID).
/// Control batches (transaction markers) only move the epoch. Not thread-safe: the owning
/// <see cref="Partition"/> serialises access under its lock.
/// </remarks>
internal sealed class ProducerStateTable
{
    public const int BatchesKept = 5;

    private readonly Dictionary<long, ProducerEntry> _producers = [];

    internal readonly record struct BatchMetadata(int FirstSequence, int LastSequence, long FirstOffset, long LastOffset, long Timestamp);

    internal sealed class ProducerEntry(short epoch)
    {
        public short Epoch { get; set; } = epoch;
        public List<BatchMetadata> Batches { get; } = new(BatchesKept);
    }

    internal enum Verdict { Append, Duplicate, Reject }

    internal readonly record struct CheckResult(Verdict Verdict, ErrorCode Error, BatchMetadata Original, string? Message);

    public int Count => _producers.Count;

    public ProducerEntry? Get(long producerId) => _producers.GetValueOrDefault(producerId);

    public void Clear() => _producers.Clear();

    /// <summary>Whether a client batch of <paramref name="producerId"/> may be appended (see the class remarks).</summary>
    public CheckResult Check(long producerId, short epoch, int firstSequence, int lastSequence)
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
            return firstSequence == 0
                ? new(Verdict.Append, ErrorCode.None, default, null)
                : new(Verdict.Reject, ErrorCode.OutOfOrderSequenceNumber, default,
                    $"producer {producerId}: the first batch of the new epoch {epoch} has sequence {firstSequence}, not 0");
        }
        int last = entry.Batches.Count > 0 ? entry.Batches[^1].LastSequence : RecordBatchLayout.NoSequence;
        return InSequence(last, firstSequence)
            ? new(Verdict.Append, ErrorCode.None, default, null)
            : new(Verdict.Reject, ErrorCode.OutOfOrderSequenceNumber, default,
                $"producer {producerId} epoch {epoch}: sequence {firstSequence} does not follow {last}");
    }

    private static bool InSequence(int lastSequence, int nextSequence) =>
        (long)nextSequence == lastSequence + 1L || (nextSequence == 0 && lastSequence == int.MaxValue);

    /// <summary>Records an appended data batch (a newer or different epoch forgets the older batches).</summary>
    public void Record(long producerId, short epoch, int firstSequence, int lastSequence, long firstOffset, long lastOffset, long timestamp)
    {
        var entry = EntryFor(producerId, epoch);
        entry.Batches.Add(new BatchMetadata(firstSequence, lastSequence, firstOffset, lastOffset, timestamp));
        if (entry.Batches.Count > BatchesKept) entry.Batches.RemoveAt(0);
    }

    /// <summary>A control batch (transaction marker) of <paramref name="producerId"/>: only its epoch counts.</summary>
    public void RecordControl(long producerId, short epoch)
    {
        if (_producers.TryGetValue(producerId, out var entry) && epoch < entry.Epoch) return;
        EntryFor(producerId, epoch);
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
            RecordControl(producerId, batch.ProducerEpoch);
            return;
        }
        if (batch.BaseSequence < 0) return;
        Record(producerId, batch.ProducerEpoch, batch.BaseSequence, batch.LastSequence, batch.BaseOffset, batch.LastOffset, batch.MaxTimestamp);
    }

    /// <summary>
    /// Forgets everything and scans <paramref name="log"/> from its start offset to its end, in chunks
    /// of at most <paramref name="chunkBytes"/> (a larger batch is read whole). Returns the batches scanned.
    /// </summary>
    public long Rebuild(PartitionLog log, int chunkBytes = 1024 * 1024)
    {
        _producers.Clear();
        long offset = log.LogStartOffset;
        long end = log.LogEndOffset;
        long batches = 0;
        // Each round consumes at least one batch, so the loop ends within (end - start) rounds.
        for (long round = 0; offset < end && round <= end - log.LogStartOffset; round++)
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
                    Apply(reader.Current);
                    next = reader.Current.LastOffset + 1;
                    batches++;
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
}
