using System.Buffers.Binary;

namespace Fjord.Protocol.Records;

/// <summary>
/// Walks a buffer of back-to-back v2 batches (the records field of a Produce request or Fetch
/// response, or a log segment) yielding each as a <see cref="RecordBatch"/> slice. It checks only
/// what framing needs (length plausible, magic 2); call <see cref="RecordBatch.Validate"/> on each.
/// </summary>
/// <remarks>
/// A fetch response may end with a partial batch (the broker cut the data at the size limit).
/// With <c>allowTruncatedTail</c> the reader stops there and reports it through
/// <see cref="HasTruncatedTail"/>/<see cref="TruncatedTailBytes"/>; without it (Produce requests)
/// a partial batch is a <see cref="ProtocolDecodeException"/>. A batchLength below the v2 minimum is
/// always an error, never taken for truncation. Allocates nothing.
/// </remarks>
public struct RecordBatchReader
{
    private readonly ReadOnlyMemory<byte> _buffer;
    private readonly bool _allowTruncatedTail;
    private int _position;

    public RecordBatchReader(ReadOnlyMemory<byte> buffer, bool allowTruncatedTail = false)
    {
        _buffer = buffer;
        _allowTruncatedTail = allowTruncatedTail;
        _position = 0;
        Current = default;
        TruncatedTailBytes = 0;
    }

    public RecordBatch Current { get; private set; }

    /// <summary>Bytes consumed by the batches read so far.</summary>
    public readonly int Position => _position;

    /// <summary>Bytes of a partial final batch that was skipped (0 when none).</summary>
    public int TruncatedTailBytes { get; private set; }

    public readonly bool HasTruncatedTail => TruncatedTailBytes > 0;

    public readonly RecordBatchReader GetEnumerator() => this;

    public bool MoveNext()
    {
        var span = _buffer.Span;
        int remaining = span.Length - _position;
        if (remaining == 0 || TruncatedTailBytes > 0) return false;
        if (remaining < RecordBatchLayout.LogOverhead) return Truncated(remaining, "batch header");
        var at = span[_position..];
        int batchLength = BinaryPrimitives.ReadInt32BigEndian(at[RecordBatchLayout.BatchLength..]);
        if (remaining > RecordBatchLayout.Magic)
        {
            sbyte magic = (sbyte)at[RecordBatchLayout.Magic];
            if (magic != RecordBatchLayout.CurrentMagic)
                throw new ProtocolDecodeException("RecordBatch.Magic",
                    magic is 0 or 1 ? $"legacy message set (magic {magic}); read it with LegacyMessageSetReader" : $"magic {magic} is not 2");
        }
        if (batchLength < RecordBatchLayout.MinBatchLength)
            throw new ProtocolDecodeException("RecordBatch.BatchLength", $"{batchLength} at position {_position} is below the {RecordBatchLayout.MinBatchLength}-byte minimum");
        if (batchLength > remaining - RecordBatchLayout.LogOverhead) return Truncated(remaining, $"batch of {batchLength} bytes");
        int size = RecordBatchLayout.LogOverhead + batchLength;
        Current = new RecordBatch(_buffer.Slice(_position, size));
        _position += size;
        return true;
    }

    private bool Truncated(int remaining, string what)
    {
        if (!_allowTruncatedTail)
            throw new ProtocolDecodeException("RecordBatch.BatchLength", $"{what} at position {_position} is truncated: only {remaining} bytes remain");
        TruncatedTailBytes = remaining;
        return false;
    }

    /// <summary>The magic byte of the first entry (batch or legacy message), or -1 when fewer than
    /// 17 bytes are present. Lets a caller choose between this reader and the legacy one.</summary>
    public static int PeekMagic(ReadOnlySpan<byte> buffer) =>
        buffer.Length > RecordBatchLayout.Magic ? (sbyte)buffer[RecordBatchLayout.Magic] : -1;
}
