namespace Fjord.Protocol.Records;

/// <summary>
/// A view of one record inside a batch's (decompressed) record bytes: no copy, no allocation.
/// Key, value and header bytes are slices of the buffer the batch was read from (or of the pooled
/// decompression buffer, valid until the owning <see cref="BatchRecords"/> is disposed).
/// </summary>
/// <remarks>
/// Invariants (established by <see cref="RecordParser"/>): every slice lies inside the record's
/// declared length; headers were fully validated, so enumerating them cannot fail.
/// A null key or value is distinguished from an empty one by <see cref="HasKey"/>/<see cref="HasValue"/>.
/// </remarks>
public readonly struct Record
{
    private readonly ReadOnlyMemory<byte> _source;
    private readonly int _keyStart, _keyLength, _valueStart, _valueLength, _headersStart, _headersLength, _headerCount;

    internal Record(ReadOnlyMemory<byte> source, long offset, long timestamp, int offsetDelta, long timestampDelta,
        byte attributes, int sizeInBytes, int keyStart, int keyLength, int valueStart, int valueLength,
        int headersStart, int headersLength, int headerCount)
    {
        _source = source;
        Offset = offset;
        Timestamp = timestamp;
        OffsetDelta = offsetDelta;
        TimestampDelta = timestampDelta;
        Attributes = attributes;
        SizeInBytes = sizeInBytes;
        _keyStart = keyStart;
        _keyLength = keyLength;
        _valueStart = valueStart;
        _valueLength = valueLength;
        _headersStart = headersStart;
        _headersLength = headersLength;
        _headerCount = headerCount;
    }

    /// <summary>baseOffset + offsetDelta.</summary>
    public long Offset { get; }

    /// <summary>baseTimestamp + timestampDelta, or the batch's maxTimestamp under LogAppendTime.</summary>
    public long Timestamp { get; }

    public int OffsetDelta { get; }
    public long TimestampDelta { get; }

    /// <summary>The record's own attributes byte (unused by Kafka today).</summary>
    public byte Attributes { get; }

    /// <summary>Encoded size including the length varint.</summary>
    public int SizeInBytes { get; }

    public bool HasKey => _keyLength >= 0;
    public bool HasValue => _valueLength >= 0;

    /// <summary>The key bytes; empty when the key is null (see <see cref="HasKey"/>).</summary>
    public ReadOnlyMemory<byte> Key => _keyLength > 0 ? _source.Slice(_keyStart, _keyLength) : ReadOnlyMemory<byte>.Empty;
    public ReadOnlySpan<byte> KeySpan => Key.Span;

    /// <summary>The value bytes; empty when the value is null (a tombstone; see <see cref="HasValue"/>).</summary>
    public ReadOnlyMemory<byte> Value => _valueLength > 0 ? _source.Slice(_valueStart, _valueLength) : ReadOnlyMemory<byte>.Empty;
    public ReadOnlySpan<byte> ValueSpan => Value.Span;

    public int HeaderCount => _headerCount;

    /// <summary>The headers, in order, without allocation.</summary>
    public RecordHeaderEnumerator Headers => new(_source, _headersStart, _headerCount);

    /// <summary>The encoded headers (after the count varint), already validated: lets a builder copy
    /// them into another batch without decoding (see <see cref="RecordBatchBuilder.AppendRecord"/>).</summary>
    public ReadOnlyMemory<byte> HeadersBytes => _source.Slice(_headersStart, _headersLength);
}
