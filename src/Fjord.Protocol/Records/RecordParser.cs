namespace Fjord.Protocol.Records;

/// <summary>
/// Decodes one v2 record: length varint, attributes int8, timestampDelta varlong, offsetDelta
/// varint, key (varint length, -1 = null), value (likewise), header count varint, headers
/// (key length ≥ 0 + UTF-8 key, value length ≥ -1 + value). Every field is read within the
/// record's declared length, and the fields must use exactly that length.
/// </summary>
internal static class RecordParser
{
    /// <summary>The smallest record body (without its length varint).</summary>
    private const int MinBodySize = RecordBatchLayout.MinRecordSize - 1;

    public static Record Read(ReadOnlyMemory<byte> source, ref int position, in RecordContext context)
    {
        var span = source.Span;
        int start = position;
        int bodyLength = RecordVarint.ReadVarint(span, ref position, "Record.Length");
        if (bodyLength < MinBodySize)
            throw new ProtocolDecodeException("Record.Length", $"length {bodyLength} is below the {MinBodySize}-byte minimum");
        if (bodyLength > span.Length - position)
            throw new ProtocolDecodeException("Record.Length", $"length {bodyLength} exceeds the {span.Length - position} bytes that remain");
        int bodyStart = position;
        // Bound every field read by the body: a field can never borrow bytes from the next record.
        var body = span.Slice(0, bodyStart + bodyLength);

        byte attributes = body[position++];
        long timestampDelta = RecordVarint.ReadVarlong(body, ref position, "Record.TimestampDelta");
        int offsetDelta = RecordVarint.ReadVarint(body, ref position, "Record.OffsetDelta");

        int keyLength = RecordVarint.ReadLength(body, ref position, "Record.KeyLength", nullable: true);
        int keyStart = position;
        if (keyLength > 0) position += keyLength;
        int valueLength = RecordVarint.ReadLength(body, ref position, "Record.ValueLength", nullable: true);
        int valueStart = position;
        if (valueLength > 0) position += valueLength;

        int headerCount = RecordVarint.ReadVarint(body, ref position, "Record.HeaderCount");
        if (headerCount < 0)
            throw new ProtocolDecodeException("Record.HeaderCount", $"negative header count {headerCount}");
        if (headerCount > (body.Length - position) / 2)
            throw new ProtocolDecodeException("Record.HeaderCount", $"{headerCount} headers cannot fit in the {body.Length - position} bytes that remain");
        int headersStart = position;
        for (int i = 0; i < headerCount; i++)
        {
            int headerKeyLength = RecordVarint.ReadLength(body, ref position, "RecordHeader.KeyLength", nullable: false);
            position += headerKeyLength;
            int headerValueLength = RecordVarint.ReadLength(body, ref position, "RecordHeader.ValueLength", nullable: true);
            if (headerValueLength > 0) position += headerValueLength;
        }
        if (position != body.Length)
            throw new ProtocolDecodeException("Record.Length", $"declared {bodyLength} bytes but its fields use {position - bodyStart}");

        long offset = context.BaseOffset + offsetDelta;
        long timestamp = context.LogAppendTime ? context.MaxTimestamp : context.BaseTimestamp + timestampDelta;
        return new Record(source, offset, timestamp, offsetDelta, timestampDelta, attributes, position - start,
            keyStart, keyLength, valueStart, valueLength, headersStart, position - headersStart, headerCount);
    }
}

/// <summary>The batch-level values a record needs to resolve its offset and timestamp.</summary>
internal readonly record struct RecordContext(long BaseOffset, long BaseTimestamp, long MaxTimestamp, bool LogAppendTime);
