namespace Fjord.Protocol.Records;

/// <summary>
/// Converts legacy (magic 0/1) message sets — sent by old producers — to v2 record batches, the
/// only format Fjord stores. Records keep key, value and (v1) timestamp; v0 records get no
/// timestamp (-1). Legacy messages have no headers.
/// </summary>
public static class LegacyMessageSets
{
    /// <summary>
    /// Appends every record of <paramref name="messageSet"/> to <paramref name="builder"/>, in order.
    /// By default records take the builder's next offsets (a broker assigns offsets anyway); with
    /// <paramref name="preserveOffsets"/> the messages' own offsets are kept and must increase.
    /// Returns the number of records appended. Bad input throws <see cref="ProtocolDecodeException"/>.
    /// </summary>
    public static int ConvertToV2(ReadOnlyMemory<byte> messageSet, RecordBatchBuilder builder, int maxDecompressedBytes,
        bool preserveOffsets = false)
    {
        int appended = 0;
        long previousOffset = long.MinValue;
        using var reader = new LegacyMessageSetReader(messageSet, maxDecompressedBytes);
        foreach (var record in reader)
        {
            long timestamp = record.Timestamp;
            if (timestamp < 0 && timestamp != RecordBatchLayout.NoTimestamp)
                throw new ProtocolDecodeException("LegacyMessage.Timestamp", $"invalid negative timestamp {timestamp}");
            long offset = builder.NextOffset;
            if (preserveOffsets)
            {
                offset = record.Offset;
                if (offset <= previousOffset || offset < builder.Options.BaseOffset || offset - builder.Options.BaseOffset > int.MaxValue)
                    throw new ProtocolDecodeException("LegacyMessage.Offset", $"offset {offset} does not follow {previousOffset} within the batch");
                previousOffset = offset;
            }
            builder.AppendWithOffset(offset, timestamp, record.Key.Span, record.HasKey, record.Value.Span, record.HasValue, default);
            appended++;
        }
        return appended;
    }

    /// <summary>Converts <paramref name="messageSet"/> into one v2 batch built with <paramref name="options"/>.</summary>
    public static byte[] ConvertToV2Batch(ReadOnlyMemory<byte> messageSet, RecordBatchOptions options, int maxDecompressedBytes)
    {
        using var builder = new RecordBatchBuilder(options);
        ConvertToV2(messageSet, builder, maxDecompressedBytes);
        return builder.ToArray();
    }
}
