namespace Fjord.Protocol.Records;

/// <summary>
/// Enumerates the records of one batch over its uncompressed record bytes, allocating nothing.
/// Yields exactly the batch's declared count; after the last record the bytes must be used up
/// (otherwise the declared size is wrong and <see cref="ProtocolDecodeException"/> is thrown).
/// </summary>
public struct RecordEnumerator
{
    private readonly ReadOnlyMemory<byte> _records;
    private readonly RecordContext _context;
    private readonly int _count;
    private int _index, _position;

    internal RecordEnumerator(ReadOnlyMemory<byte> records, int count, in RecordContext context)
    {
        _records = records;
        _count = count;
        _context = context;
        _index = 0;
        _position = 0;
        Current = default;
    }

    public Record Current { get; private set; }

    public readonly RecordEnumerator GetEnumerator() => this;

    public bool MoveNext()
    {
        if (_index >= _count) return false;
        Current = RecordParser.Read(_records, ref _position, _context);
        _index++;
        if (_index == _count && _position != _records.Length)
            throw new ProtocolDecodeException("RecordBatch.Records",
                $"{_records.Length - _position} bytes remain after the declared {_count} records");
        return true;
    }
}

/// <summary>
/// The uncompressed records of one batch: either a slice of the batch itself, or (for compressed
/// batches) a pooled buffer holding the decompressed bytes. Dispose returns the buffer to the
/// pool; records read from it must not be used afterwards. Dispose is idempotent.
/// </summary>
public readonly struct BatchRecords : IDisposable
{
    private readonly PooledRecordBuffer? _owner;
    private readonly RecordContext _context;

    internal BatchRecords(ReadOnlyMemory<byte> bytes, int count, in RecordContext context, PooledRecordBuffer? owner)
    {
        Bytes = bytes;
        Count = count;
        _context = context;
        _owner = owner;
    }

    /// <summary>The uncompressed record bytes.</summary>
    public ReadOnlyMemory<byte> Bytes { get; }

    public int Count { get; }

    public bool IsDecompressed => _owner is not null;

    public RecordEnumerator GetEnumerator() => new(Bytes, Count, _context);

    public void Dispose() => _owner?.Dispose();
}

/// <summary>Owns the pooled decompression buffer behind a <see cref="BatchRecords"/>.</summary>
internal sealed class PooledRecordBuffer(Compression.PooledBufferWriter writer) : IDisposable
{
    public ReadOnlyMemory<byte> Memory => writer.WrittenMemory;
    public void Dispose() => writer.Dispose();
}
