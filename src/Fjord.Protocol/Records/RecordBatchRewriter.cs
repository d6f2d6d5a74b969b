using System.Buffers.Binary;

namespace Fjord.Protocol.Records;

/// <summary>
/// In-place edits a broker makes to batches it appends. baseOffset and partitionLeaderEpoch lie
/// outside the CRC, so setting them never recomputes it; changing the timestamp type or
/// maxTimestamp does (only when something actually changed, as Kafka does).
/// </summary>
public static class RecordBatchRewriter
{
    public static void SetBaseOffset(Span<byte> batch, long baseOffset) =>
        BinaryPrimitives.WriteInt64BigEndian(Header(batch)[RecordBatchLayout.BaseOffset..], baseOffset);

    /// <summary>Sets baseOffset so that the batch's last offset is <paramref name="lastOffset"/>.</summary>
    public static void SetLastOffset(Span<byte> batch, long lastOffset)
    {
        int lastOffsetDelta = BinaryPrimitives.ReadInt32BigEndian(Header(batch)[RecordBatchLayout.LastOffsetDelta..]);
        SetBaseOffset(batch, lastOffset - lastOffsetDelta);
    }

    public static void SetPartitionLeaderEpoch(Span<byte> batch, int epoch) =>
        BinaryPrimitives.WriteInt32BigEndian(Header(batch)[RecordBatchLayout.PartitionLeaderEpoch..], epoch);

    /// <summary>
    /// Sets the timestamp type and maxTimestamp (LogAppendTime stamping) and recomputes the CRC if
    /// either changed. Other attribute bits are kept. Returns whether the batch changed.
    /// </summary>
    public static bool SetMaxTimestamp(Span<byte> batch, TimestampType timestampType, long maxTimestamp)
    {
        var header = Header(batch);
        var attributes = new BatchAttributes(BinaryPrimitives.ReadInt16BigEndian(header[RecordBatchLayout.Attributes..]));
        long current = BinaryPrimitives.ReadInt64BigEndian(header[RecordBatchLayout.MaxTimestamp..]);
        if (attributes.TimestampType == timestampType && current == maxTimestamp) return false;
        if (timestampType == TimestampType.NoTimestampType) throw new ArgumentException("v2 batches need CreateTime or LogAppendTime");
        BinaryPrimitives.WriteInt16BigEndian(header[RecordBatchLayout.Attributes..], attributes.WithTimestampType(timestampType).Value);
        BinaryPrimitives.WriteInt64BigEndian(header[RecordBatchLayout.MaxTimestamp..], maxTimestamp);
        UpdateCrc(batch);
        return true;
    }

    /// <summary>Recomputes and stores the CRC over [attributes, end); returns it.</summary>
    public static uint UpdateCrc(Span<byte> batch)
    {
        uint crc = Crc32C.Compute(Header(batch)[RecordBatchLayout.Attributes..]);
        BinaryPrimitives.WriteUInt32BigEndian(batch[RecordBatchLayout.Crc..], crc);
        return crc;
    }

    /// <summary>
    /// Gives back-to-back batches consecutive offsets starting at <paramref name="firstOffset"/>
    /// (each batch spans lastOffsetDelta + 1 offsets) and, when given, stamps the partition leader
    /// epoch. The batches must be complete and framed correctly (validate them first); a framing
    /// error throws <see cref="ProtocolDecodeException"/>. Returns the next free offset.
    /// </summary>
    public static long AssignOffsets(Span<byte> batches, long firstOffset, int? partitionLeaderEpoch = null)
    {
        long next = firstOffset;
        int position = 0;
        while (position < batches.Length)
        {
            var rest = batches[position..];
            if (rest.Length < RecordBatchLayout.HeaderSize)
                throw new ProtocolDecodeException("RecordBatch", $"{rest.Length} trailing bytes at {position} cannot hold a batch header");
            int batchLength = BinaryPrimitives.ReadInt32BigEndian(rest[RecordBatchLayout.BatchLength..]);
            if (batchLength < RecordBatchLayout.MinBatchLength || batchLength > rest.Length - RecordBatchLayout.LogOverhead)
                throw new ProtocolDecodeException("RecordBatch.BatchLength", $"{batchLength} at {position} does not fit the {rest.Length} bytes that remain");
            var batch = rest[..(RecordBatchLayout.LogOverhead + batchLength)];
            int lastOffsetDelta = BinaryPrimitives.ReadInt32BigEndian(batch[RecordBatchLayout.LastOffsetDelta..]);
            if (lastOffsetDelta < 0)
                throw new ProtocolDecodeException("RecordBatch.LastOffsetDelta", $"negative lastOffsetDelta {lastOffsetDelta}");
            SetBaseOffset(batch, next);
            if (partitionLeaderEpoch is { } epoch) SetPartitionLeaderEpoch(batch, epoch);
            next += (long)lastOffsetDelta + 1;
            position += batch.Length;
        }
        return next;
    }

    private static Span<byte> Header(Span<byte> batch) =>
        batch.Length >= RecordBatchLayout.HeaderSize
            ? batch
            : throw new ArgumentException($"{batch.Length} bytes cannot hold a {RecordBatchLayout.HeaderSize}-byte batch header", nameof(batch));
}
