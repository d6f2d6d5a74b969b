using Fjord.Common;
using Fjord.Protocol;
using Fjord.Protocol.Records;

namespace Fjord.Storage;

/// <summary>Totals of the batches of one append, read from their headers.</summary>
internal readonly record struct BatchSummary(long FirstOffset, long LastOffset, long MaxTimestamp, long OffsetOfMaxTimestamp,
    int BatchCount, int RecordCount);

/// <summary>
/// Checks the batches handed to an append before anything is written: each must be a whole, valid
/// v2 batch (<see cref="RecordBatch.Validate"/>: length, magic, CRC, codec, count) and, from a
/// producer, no larger than max.message.bytes. Runs on the caller's thread, outside the write lock.
/// </summary>
internal static class IncomingBatches
{
    public static void Validate(ReadOnlyMemory<byte> batches, int? maxBatchBytes)
    {
        try
        {
            var reader = new RecordBatchReader(batches);
            while (reader.MoveNext())
            {
                var batch = reader.Current;
                batch.Validate();
                if (batch.LastOffsetDelta < 0)
                    throw new ProtocolDecodeException("RecordBatch.LastOffsetDelta", $"negative lastOffsetDelta {batch.LastOffsetDelta}");
                if (maxBatchBytes is { } max && batch.SizeInBytes > max)
                    throw new LogAppendException(ErrorCode.MessageTooLarge,
                        $"batch of {batch.SizeInBytes} bytes is larger than max.message.bytes ({max})");
            }
        }
        catch (ProtocolDecodeException e)
        {
            throw new LogAppendException(ErrorCode.CorruptMessage, $"invalid record batch: {e.Message}", e);
        }
    }

    /// <summary>Offsets, largest timestamp and counts of batches already validated.</summary>
    public static BatchSummary Summarize(ReadOnlyMemory<byte> batches)
    {
        long first = -1, last = -1, maxTimestamp = RecordBatchLayout.NoTimestamp, offsetOfMax = -1;
        int batchCount = 0, recordCount = 0;
        var reader = new RecordBatchReader(batches);
        while (reader.MoveNext())
        {
            var batch = reader.Current;
            if (batchCount == 0) first = batch.BaseOffset;
            last = batch.LastOffset;
            if (batch.MaxTimestamp > maxTimestamp)
            {
                maxTimestamp = batch.MaxTimestamp;
                offsetOfMax = batch.BaseOffset;
            }
            batchCount++;
            recordCount += batch.RecordCount;
        }
        return new BatchSummary(first, last, maxTimestamp, offsetOfMax, batchCount, recordCount);
    }

    /// <summary>Stamps every batch with LogAppendTime = <paramref name="nowMs"/> (recomputing CRCs).</summary>
    public static void StampLogAppendTime(Span<byte> batches, long nowMs)
    {
        int at = 0;
        while (at < batches.Length)
        {
            var problem = BatchHeader.TryParse(batches[at..], at, out var header);
            if (problem is not null) throw new InvalidOperationException($"batches changed after validation: {problem}");
            RecordBatchRewriter.SetMaxTimestamp(batches.Slice(at, header.Size), TimestampType.LogAppendTime, nowMs);
            at += header.Size;
        }
    }
}
