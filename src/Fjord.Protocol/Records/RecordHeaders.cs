using System.Text;

namespace Fjord.Protocol.Records;

/// <summary>A header to write: a UTF-8 key and a nullable value.</summary>
public readonly struct RecordHeader
{
    public RecordHeader(string key, ReadOnlyMemory<byte>? value)
    {
        ArgumentNullException.ThrowIfNull(key);
        Key = key;
        Value = value;
    }

    public RecordHeader(string key, byte[]? value) : this(key, value is null ? null : (ReadOnlyMemory<byte>?)value) { }

    public string Key { get; }

    /// <summary>The value, or null for a null value (encoded as length -1).</summary>
    public ReadOnlyMemory<byte>? Value { get; }
}

/// <summary>A view of one header inside a record (slices of the record's buffer).</summary>
public readonly struct RecordHeaderView(ReadOnlyMemory<byte> key, ReadOnlyMemory<byte> value, bool hasValue)
{
    /// <summary>The key's UTF-8 bytes.</summary>
    public ReadOnlyMemory<byte> Key { get; } = key;
    public bool HasValue { get; } = hasValue;

    /// <summary>The value bytes; empty when null (see <see cref="HasValue"/>).</summary>
    public ReadOnlyMemory<byte> Value { get; } = value;

    /// <summary>Decodes the key (allocates; invalid UTF-8 becomes U+FFFD as in the Java client).</summary>
    public string KeyString => Encoding.UTF8.GetString(Key.Span);
}

/// <summary>
/// Enumerates a record's headers. The parser validated them when it read the record, so this
/// never fails; it allocates nothing.
/// </summary>
public struct RecordHeaderEnumerator
{
    private readonly ReadOnlyMemory<byte> _source;
    private readonly int _count;
    private int _position, _index;

    internal RecordHeaderEnumerator(ReadOnlyMemory<byte> source, int start, int count)
    {
        _source = source;
        _position = start;
        _count = count;
        _index = 0;
        Current = default;
    }

    public RecordHeaderView Current { get; private set; }

    public readonly RecordHeaderEnumerator GetEnumerator() => this;

    public bool MoveNext()
    {
        if (_index >= _count) return false;
        var span = _source.Span;
        int keyLength = RecordVarint.ReadLength(span, ref _position, "RecordHeader.KeyLength", nullable: false);
        var key = _source.Slice(_position, keyLength);
        _position += keyLength;
        int valueLength = RecordVarint.ReadLength(span, ref _position, "RecordHeader.ValueLength", nullable: true);
        var value = valueLength > 0 ? _source.Slice(_position, valueLength) : ReadOnlyMemory<byte>.Empty;
        if (valueLength > 0) _position += valueLength;
        Current = new RecordHeaderView(key, value, valueLength >= 0);
        _index++;
        return true;
    }
}
