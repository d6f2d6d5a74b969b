using System.Buffers;
using System.Buffers.Binary;
using Fjord.Protocol.Records;

namespace Fjord.Storage;

/// <summary>What the cleaner did with one batch.</summary>
internal enum BatchFilterAction
{
    /// <summary>Every record kept and nothing to change: the original bytes were copied.</summary>
    Copied,
    /// <summary>Some records dropped, or a delete horizon added: the batch was rebuilt.</summary>
    Rebuilt,
    /// <summary>Every record dropped, but the batch header was kept (count 0) to preserve its offsets.</summary>
    EmptyRetained,
    /// <summary>Every record dropped and nothing written.</summary>
    Dropped,
}

internal readonly record struct BatchFilterResult(BatchFilterAction Action, int RecordsRead, int RecordsKept, int TombstonesDropped, int BytesWritten);

/// <summary>
/// The inputs of one cleaning round that decide a record's fate: the key map of the dirty section,
/// the time the round started, the topic's delete.retention.ms, and the first offset the round
/// does not clean (the batch ending right before it is kept even when emptied, as Kafka does, so
/// the last offset of the cleaned section survives).
/// </summary>
internal readonly record struct CleaningRules(OffsetMap Map, long NowMs, long DeleteRetentionMs, long UpperBoundOffset);

/// <summary>
/// Filters one batch for log compaction, writing what survives to an output buffer with every
/// record at its original offset (same baseOffset, same offset deltas, gaps where records went).
/// </summary>
/// <remarks>
/// A record is kept iff: it lies past the map's latest offset (not indexed this round), or it has
/// no key, or its offset is at least the map's latest offset for its key (absent keys count as
/// latest) and it has a value or its tombstone has not expired. A tombstone expires when its
/// batch carries a delete horizon (KIP-534) that is &lt;= now. A batch keeping a tombstone but
/// carrying no horizon gets one, now + delete.retention.ms, once all its tombstones lie within the
/// map's range: the first cleaning keeps a tombstone and a later one (after the horizon) removes it.
/// Control batches and transactional batches are copied unchanged in this first version (their
/// records are not indexed either), so transactions and markers are never altered.
/// Rebuilt batches keep the producer id/epoch/base sequence, partition leader epoch, timestamp
/// type and codec. Every source batch is validated (CRC included) first. Not thread-safe.
/// </remarks>
internal sealed class BatchFilter(int maxDecompressedBytes) : IDisposable
{
    private readonly RecordBatchBuilder _builder = new(new RecordBatchOptions());
    private bool[] _keep = new bool[1024];

    /// <summary>Filters <paramref name="batch"/> into <paramref name="output"/>. A batch that fails
    /// validation (length, magic, CRC, records) throws <see cref="Protocol.ProtocolDecodeException"/>:
    /// the cleaner never copies or rewrites corrupt data.</summary>
    public BatchFilterResult Filter(RecordBatch batch, in CleaningRules rules, IBufferWriter<byte> output)
    {
        batch.Validate();
        if (batch.IsControl || batch.IsTransactional)
            return new(BatchFilterAction.Copied, batch.RecordCount, batch.RecordCount, 0, Copy(batch, output));

        int count = batch.RecordCount;
        if (_keep.Length < count) _keep = new bool[Math.Max(count, _keep.Length * 2)];
        using var records = batch.OpenRecords(maxDecompressedBytes);
        long? horizon = batch.DeleteHorizonMs;
        bool tombstonesExpired = horizon is { } h && h <= rules.NowMs;
        int index = 0, kept = 0, tombstonesDropped = 0;
        bool keptIndexedTombstone = false, keptUnindexedTombstone = false;
        foreach (var record in records)
        {
            bool keep = ShouldKeep(record, rules.Map, tombstonesExpired);
            _keep[index++] = keep;
            if (keep)
            {
                kept++;
                if (!record.HasValue)
                {
                    if (record.Offset <= rules.Map.LatestOffset) keptIndexedTombstone = true;
                    else keptUnindexedTombstone = true;
                }
            }
            else if (!record.HasValue) tombstonesDropped++;
        }

        // The horizon starts only once every tombstone of the batch has been through a round's
        // index (so the older values it deletes went in the same round, and delete.retention.ms
        // counts from then).
        bool addHorizon = keptIndexedTombstone && !keptUnindexedTombstone && horizon is null;
        if (kept == count && !addHorizon)
            return new(BatchFilterAction.Copied, count, count, 0, Copy(batch, output));
        if (kept == 0)
        {
            if (batch.LastOffset + 1 != rules.UpperBoundOffset)
                return new(BatchFilterAction.Dropped, count, 0, tombstonesDropped, 0);
            return new(BatchFilterAction.EmptyRetained, count, 0, tombstonesDropped, WriteEmpty(batch, output));
        }

        _builder.Reset(new RecordBatchOptions
        {
            BaseOffset = batch.BaseOffset,
            PartitionLeaderEpoch = batch.PartitionLeaderEpoch,
            ProducerId = batch.ProducerId,
            ProducerEpoch = batch.ProducerEpoch,
            BaseSequence = batch.BaseSequence,
            Compression = batch.Compression,
            TimestampType = batch.TimestampType,
            LogAppendTimeMs = batch.TimestampType == TimestampType.LogAppendTime ? batch.MaxTimestamp : null,
            DeleteHorizonMs = horizon ?? (addHorizon ? rules.NowMs + rules.DeleteRetentionMs : null),
        });
        index = 0;
        foreach (var record in records)
            if (_keep[index++]) _builder.AppendRecord(record.Offset, record);
        return new(BatchFilterAction.Rebuilt, count, kept, tombstonesDropped, _builder.WriteTo(output));
    }

    private static bool ShouldKeep(in Record record, OffsetMap map, bool tombstonesExpired)
    {
        if (record.Offset > map.LatestOffset || !record.HasKey) return true;
        if (record.Offset < map.Get(record.KeySpan)) return false;
        return record.HasValue || !tombstonesExpired;
    }

    private static int Copy(RecordBatch batch, IBufferWriter<byte> output)
    {
        batch.Bytes.Span.CopyTo(output.GetSpan(batch.SizeInBytes));
        output.Advance(batch.SizeInBytes);
        return batch.SizeInBytes;
    }

    /// <summary>
    /// The batch's header alone: same offsets (baseOffset, lastOffsetDelta), producer fields and
    /// timestamps, zero records, no compression (there is no payload to decompress), new CRC.
    /// </summary>
    internal static int WriteEmpty(RecordBatch batch, IBufferWriter<byte> output)
    {
        var header = output.GetSpan(RecordBatchLayout.HeaderSize)[..RecordBatchLayout.HeaderSize];
        batch.Bytes.Span[..RecordBatchLayout.HeaderSize].CopyTo(header);
        BinaryPrimitives.WriteInt32BigEndian(header[RecordBatchLayout.BatchLength..], RecordBatchLayout.MinBatchLength);
        short attributes = (short)(batch.Attributes.Value & ~BatchAttributes.CompressionMask);
        BinaryPrimitives.WriteInt16BigEndian(header[RecordBatchLayout.Attributes..], attributes);
        BinaryPrimitives.WriteInt32BigEndian(header[RecordBatchLayout.RecordsCount..], 0);
        RecordBatchRewriter.UpdateCrc(header);
        output.Advance(RecordBatchLayout.HeaderSize);
        return RecordBatchLayout.HeaderSize;
    }

    public void Dispose() => _builder.Dispose();
}
