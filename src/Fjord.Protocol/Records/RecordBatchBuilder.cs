using System.Buffers;
using System.Buffers.Binary;
using Fjord.Protocol.Compression;

namespace Fjord.Protocol.Records;

/// <summary>
/// Builds one v2 record batch: records are encoded as they are appended (into a pooled buffer),
/// and <see cref="WriteTo(Span{byte})"/> writes the header, the (compressed) records, the length and
/// the CRC. The first record's timestamp becomes baseTimestamp (unless a delete horizon is set);
/// maxTimestamp is the largest record timestamp, or the log append time under LogAppendTime.
/// </summary>
/// <remarks>
/// Invariants: offsets strictly increase and stay within int32 of the base offset; the compressed
/// payload is cached until the next append. Not thread-safe. Dispose returns the pooled buffers.
/// </remarks>
public sealed class RecordBatchBuilder : IDisposable
{
    private readonly PooledBufferWriter _records = new();
    private PooledBufferWriter? _compressed;
    private bool _compressedValid;
    private RecordBatchOptions _options;
    private ICompressionCodec _codec = CompressionCodecs.None;
    private int _count;
    private long _lastOffset, _baseTimestamp, _maxTimestamp;

    public RecordBatchBuilder(RecordBatchOptions options) => Reset(options);

    public RecordBatchOptions Options => _options;
    public int Count => _count;

    /// <summary>The offset the next <see cref="Append(long, byte[], byte[], ReadOnlySpan{RecordHeader})"/> will use.</summary>
    public long NextOffset => _count == 0 ? _options.BaseOffset : _lastOffset + 1;

    /// <summary>Header plus uncompressed records: what the batch occupies without compression.</summary>
    public int UncompressedSizeInBytes => RecordBatchLayout.HeaderSize + _records.WrittenCount;

    /// <summary>Drops every record and starts a new batch with <paramref name="options"/>.</summary>
    public void Reset(RecordBatchOptions options)
    {
        if (options.TimestampType == TimestampType.NoTimestampType)
            throw new ArgumentException("v2 batches need CreateTime or LogAppendTime");
        if (options.TimestampType == TimestampType.LogAppendTime && options.LogAppendTimeMs is null)
            throw new ArgumentException("LogAppendTime batches need LogAppendTimeMs");
        _codec = options.Codec ?? CompressionCodecs.Get(options.Compression);
        if (_codec.Type != options.Compression)
            throw new ArgumentException($"codec {_codec.Name} does not match compression {options.Compression}");
        _options = options;
        _records.Clear();
        _compressedValid = false;
        _count = 0;
        _lastOffset = -1;
        _baseTimestamp = _maxTimestamp = RecordBatchLayout.NoTimestamp;
    }

    public void Append(long timestampMs, byte[]? key, byte[]? value, ReadOnlySpan<RecordHeader> headers = default) =>
        AppendWithOffset(NextOffset, timestampMs, key, key is not null, value, value is not null, headers);

    public void Append(long timestampMs, ReadOnlyMemory<byte>? key, ReadOnlyMemory<byte>? value, ReadOnlySpan<RecordHeader> headers = default) =>
        AppendWithOffset(NextOffset, timestampMs, key, value, headers);

    public void AppendWithOffset(long offset, long timestampMs, ReadOnlyMemory<byte>? key, ReadOnlyMemory<byte>? value, ReadOnlySpan<RecordHeader> headers = default) =>
        AppendWithOffset(offset, timestampMs, key.HasValue ? key.Value.Span : default, key.HasValue,
            value.HasValue ? value.Value.Span : default, value.HasValue, headers);

    /// <summary>The allocation-free form: key/value as spans with explicit presence (false = null).</summary>
    public void AppendWithOffset(long offset, long timestampMs, ReadOnlySpan<byte> key, bool hasKey,
        ReadOnlySpan<byte> value, bool hasValue, ReadOnlySpan<RecordHeader> headers)
    {
        long timestampDelta = BeginAppend(offset, timestampMs);
        int offsetDelta = (int)(offset - _options.BaseOffset);
        int bodySize = RecordEncoder.BodySize(offsetDelta, timestampDelta, key, hasKey, value, hasValue, headers);
        int size = RecordEncoder.SizeOf(bodySize);
        int written = RecordEncoder.Write(_records.GetSpan(size), bodySize, offsetDelta, timestampDelta, key, hasKey, value, hasValue, headers);
        EndAppend(offset, timestampMs, size, written);
    }

    /// <summary>
    /// Copies a record read from another batch (key, value, timestamp and its headers as encoded
    /// bytes, without decoding them) at <paramref name="offset"/>: how a broker re-compresses or
    /// re-batches records without allocating per record.
    /// </summary>
    public void AppendRecord(long offset, in Record record)
    {
        long timestampDelta = BeginAppend(offset, record.Timestamp);
        int offsetDelta = (int)(offset - _options.BaseOffset);
        var key = record.KeySpan;
        var value = record.ValueSpan;
        var headers = record.HeadersBytes.Span;
        int bodySize = RecordEncoder.BodySizeWithEncodedHeaders(offsetDelta, timestampDelta, key, record.HasKey, value, record.HasValue, record.HeaderCount, headers.Length);
        int size = RecordEncoder.SizeOf(bodySize);
        int written = RecordEncoder.WriteWithEncodedHeaders(_records.GetSpan(size), bodySize, offsetDelta, timestampDelta,
            key, record.HasKey, value, record.HasValue, record.HeaderCount, headers);
        EndAppend(offset, record.Timestamp, size, written);
    }

    /// <summary>Checks the offset and timestamp and returns the record's timestamp delta.</summary>
    private long BeginAppend(long offset, long timestampMs)
    {
        if (offset < _options.BaseOffset || (_count > 0 && offset <= _lastOffset))
            throw new ArgumentException($"offset {offset} must exceed {(_count > 0 ? _lastOffset : _options.BaseOffset - 1)}");
        if (offset - _options.BaseOffset > int.MaxValue)
            throw new ArgumentException($"offset {offset} is too far from base offset {_options.BaseOffset}");
        if (timestampMs < 0 && timestampMs != RecordBatchLayout.NoTimestamp)
            throw new ArgumentOutOfRangeException(nameof(timestampMs), $"invalid negative timestamp {timestampMs}");
        if (_count == int.MaxValue) throw new InvalidOperationException("batch is full");

        long baseTimestamp = _count == 0 ? _options.DeleteHorizonMs ?? timestampMs : _baseTimestamp;
        return timestampMs - baseTimestamp;
    }

    private void EndAppend(long offset, long timestampMs, int size, int written)
    {
        if (written != size) throw new InvalidOperationException($"record encoder wrote {written} bytes but sized {size}");
        _records.Advance(size);
        if (_count == 0) _baseTimestamp = _options.DeleteHorizonMs ?? timestampMs;

        _count++;
        _lastOffset = offset;
        if (timestampMs > _maxTimestamp) _maxTimestamp = timestampMs;
        _compressedValid = false;
    }

    /// <summary>The batch's exact encoded size (compresses now if needed; the result is cached).</summary>
    public int SizeInBytes => RecordBatchLayout.HeaderSize + Payload().Length;

    /// <summary>Writes the whole batch; returns its size. <paramref name="destination"/> must hold
    /// <see cref="SizeInBytes"/> bytes.</summary>
    public int WriteTo(Span<byte> destination)
    {
        var payload = Payload();
        int total = RecordBatchLayout.HeaderSize + payload.Length;
        if (destination.Length < total) throw new ArgumentException($"destination holds {destination.Length} bytes; the batch needs {total}");
        var batch = destination[..total];
        WriteHeader(batch);
        payload.CopyTo(batch[RecordBatchLayout.Records..]);
        RecordBatchRewriter.UpdateCrc(batch);
        return total;
    }

    public int WriteTo(IBufferWriter<byte> destination)
    {
        int total = SizeInBytes;
        int written = WriteTo(destination.GetSpan(total));
        destination.Advance(written);
        return written;
    }

    public byte[] ToArray()
    {
        var bytes = new byte[SizeInBytes];
        WriteTo(bytes);
        return bytes;
    }

    private ReadOnlySpan<byte> Payload()
    {
        if (_options.Compression == CompressionType.None) return _records.WrittenSpan;
        if (!_compressedValid)
        {
            _compressed ??= new PooledBufferWriter();
            _compressed.Clear();
            _codec.Compress(_records.WrittenSpan, _compressed);
            _compressedValid = true;
        }
        return _compressed!.WrittenSpan;
    }

    private void WriteHeader(Span<byte> batch)
    {
        var o = _options;
        var attributes = BatchAttributes.Create(o.Compression, o.TimestampType, o.IsTransactional, o.IsControl, o.DeleteHorizonMs.HasValue);
        long baseTimestamp = _count == 0 ? o.DeleteHorizonMs ?? RecordBatchLayout.NoTimestamp : _baseTimestamp;
        long maxTimestamp = o.TimestampType == TimestampType.LogAppendTime ? o.LogAppendTimeMs!.Value : _maxTimestamp;
        BinaryPrimitives.WriteInt64BigEndian(batch[RecordBatchLayout.BaseOffset..], o.BaseOffset);
        BinaryPrimitives.WriteInt32BigEndian(batch[RecordBatchLayout.BatchLength..], batch.Length - RecordBatchLayout.LogOverhead);
        BinaryPrimitives.WriteInt32BigEndian(batch[RecordBatchLayout.PartitionLeaderEpoch..], o.PartitionLeaderEpoch);
        batch[RecordBatchLayout.Magic] = (byte)RecordBatchLayout.CurrentMagic;
        BinaryPrimitives.WriteInt16BigEndian(batch[RecordBatchLayout.Attributes..], attributes.Value);
        BinaryPrimitives.WriteInt32BigEndian(batch[RecordBatchLayout.LastOffsetDelta..], _count == 0 ? 0 : (int)(_lastOffset - o.BaseOffset));
        BinaryPrimitives.WriteInt64BigEndian(batch[RecordBatchLayout.BaseTimestamp..], baseTimestamp);
        BinaryPrimitives.WriteInt64BigEndian(batch[RecordBatchLayout.MaxTimestamp..], maxTimestamp);
        BinaryPrimitives.WriteInt64BigEndian(batch[RecordBatchLayout.ProducerId..], o.ProducerId);
        BinaryPrimitives.WriteInt16BigEndian(batch[RecordBatchLayout.ProducerEpoch..], o.ProducerEpoch);
        BinaryPrimitives.WriteInt32BigEndian(batch[RecordBatchLayout.BaseSequence..], o.BaseSequence);
        BinaryPrimitives.WriteInt32BigEndian(batch[RecordBatchLayout.RecordsCount..], _count);
    }

    public void Dispose()
    {
        _records.Dispose();
        _compressed?.Dispose();
    }
}
