using System.Buffers.Binary;
using Fjord.Protocol.Compression;

namespace Fjord.Protocol.Records;

/// <summary>
/// A view of one legacy (magic 0 or 1) message entry: offset int64, message size int32, crc uint32
/// (CRC-32 IEEE of magic..end), magic int8, attributes int8 (compression bits 0-2; v1 timestamp
/// type bit 3), v1 only: timestamp int64, key int32 length + bytes (-1 = null), value likewise.
/// </summary>
/// <remarks>Invariant: a value produced by <see cref="Read"/> has every slice inside its entry and
/// its fields use exactly the declared message size.</remarks>
public readonly struct LegacyMessage
{
    public const int OffsetOffset = 0;
    public const int SizeOffset = 8;
    public const int CrcOffset = 12;
    public const int MagicOffset = 16;
    public const int AttributesOffset = 17;
    public const int TimestampOffset = 18;
    public const int LogOverhead = 12;
    /// <summary>Smallest message sizes (the bytes after the size field) for magic 0 and 1.</summary>
    public const int MinSizeV0 = 14, MinSizeV1 = 22;

    private readonly ReadOnlyMemory<byte> _entry;
    private readonly int _keyStart, _keyLength, _valueStart, _valueLength;

    private LegacyMessage(ReadOnlyMemory<byte> entry, int keyStart, int keyLength, int valueStart, int valueLength)
    {
        _entry = entry;
        _keyStart = keyStart;
        _keyLength = keyLength;
        _valueStart = valueStart;
        _valueLength = valueLength;
    }

    private ReadOnlySpan<byte> Span => _entry.Span;
    public ReadOnlyMemory<byte> Bytes => _entry;
    public int SizeInBytes => _entry.Length;
    public long Offset => BinaryPrimitives.ReadInt64BigEndian(Span);
    public uint Crc => BinaryPrimitives.ReadUInt32BigEndian(Span[CrcOffset..]);
    public sbyte Magic => (sbyte)Span[MagicOffset];
    public byte Attributes => Span[AttributesOffset];
    public CompressionType Compression => (CompressionType)(Attributes & 0x07);

    public TimestampType TimestampType => Magic == 0 ? TimestampType.NoTimestampType
        : (Attributes & 0x08) != 0 ? TimestampType.LogAppendTime : TimestampType.CreateTime;

    public long Timestamp => Magic == 0 ? RecordBatchLayout.NoTimestamp : BinaryPrimitives.ReadInt64BigEndian(Span[TimestampOffset..]);

    public bool HasKey => _keyLength >= 0;
    public ReadOnlyMemory<byte> Key => _keyLength > 0 ? _entry.Slice(_keyStart, _keyLength) : ReadOnlyMemory<byte>.Empty;
    public bool HasValue => _valueLength >= 0;
    public ReadOnlyMemory<byte> Value => _valueLength > 0 ? _entry.Slice(_valueStart, _valueLength) : ReadOnlyMemory<byte>.Empty;

    public uint ComputeCrc() => Crc32Ieee.Compute(Span[MagicOffset..]);

    /// <summary>
    /// Reads the entry at <paramref name="position"/>. Returns false (with <paramref name="message"/>
    /// unset) when the bytes end inside the entry; throws <see cref="ProtocolDecodeException"/> for
    /// anything malformed, and for a CRC mismatch when <paramref name="verifyCrc"/>.
    /// </summary>
    public static bool TryRead(ReadOnlyMemory<byte> buffer, int position, bool verifyCrc, out LegacyMessage message)
    {
        message = default;
        var span = buffer.Span[position..];
        if (span.Length < LogOverhead) return false;
        int size = BinaryPrimitives.ReadInt32BigEndian(span[SizeOffset..]);
        if (span.Length > MagicOffset)
        {
            sbyte magic = (sbyte)span[MagicOffset];
            if (magic is not (0 or 1)) throw new ProtocolDecodeException("LegacyMessage.Magic", $"magic {magic} is not 0 or 1");
            int min = magic == 0 ? MinSizeV0 : MinSizeV1;
            if (size < min) throw new ProtocolDecodeException("LegacyMessage.MessageSize", $"{size} is below the {min}-byte minimum for magic {magic}");
        }
        else if (size < MinSizeV0) throw new ProtocolDecodeException("LegacyMessage.MessageSize", $"{size} is below the {MinSizeV0}-byte minimum");
        if (size > span.Length - LogOverhead) return false;

        var entry = buffer.Slice(position, LogOverhead + size);
        var bytes = entry.Span;
        int at = bytes[MagicOffset] == 0 ? TimestampOffset : TimestampOffset + 8;
        int keyLength = ReadLength(bytes, ref at, "LegacyMessage.KeyLength");
        int keyStart = at;
        if (keyLength > 0) at += keyLength;
        int valueLength = ReadLength(bytes, ref at, "LegacyMessage.ValueLength");
        int valueStart = at;
        if (valueLength > 0) at += valueLength;
        if (at != bytes.Length)
            throw new ProtocolDecodeException("LegacyMessage.MessageSize", $"declared {size} bytes but its fields use {at - LogOverhead}");
        message = new LegacyMessage(entry, keyStart, keyLength, valueStart, valueLength);
        if (verifyCrc && message.ComputeCrc() != message.Crc)
            throw new ProtocolDecodeException("LegacyMessage.Crc", $"stored 0x{message.Crc:X8} but computed 0x{message.ComputeCrc():X8}");
        return true;
    }

    private static int ReadLength(ReadOnlySpan<byte> bytes, ref int at, string field)
    {
        if (bytes.Length - at < 4) throw new ProtocolDecodeException(field, "truncated length");
        int length = BinaryPrimitives.ReadInt32BigEndian(bytes[at..]);
        at += 4;
        if (length < -1) throw new ProtocolDecodeException(field, $"negative length {length}");
        if (length > bytes.Length - at) throw new ProtocolDecodeException(field, $"length {length} exceeds the {bytes.Length - at} bytes that remain");
        return length;
    }
}

/// <summary>
/// One record from a legacy message set as the broker sees it after unwrapping compression:
/// its absolute offset and effective timestamp resolved from the wrapper.
/// </summary>
public readonly struct LegacyRecord(LegacyMessage message, long offset, long timestamp, TimestampType timestampType, CompressionType wrapperCompression)
{
    public LegacyMessage Message { get; } = message;
    public long Offset { get; } = offset;
    public long Timestamp { get; } = timestamp;
    public TimestampType TimestampType { get; } = timestampType;
    public sbyte Magic => Message.Magic;

    /// <summary>The codec of the wrapper message this came from (None when it was not wrapped).</summary>
    public CompressionType WrapperCompression { get; } = wrapperCompression;

    public bool HasKey => Message.HasKey;
    public ReadOnlyMemory<byte> Key => Message.Key;
    public bool HasValue => Message.HasValue;
    public ReadOnlyMemory<byte> Value => Message.Value;
}
