using System.Text;

namespace Fjord.Protocol.Records;

/// <summary>
/// Sizes and writes one v2 record (length varint first). <see cref="Write"/> writes exactly
/// <see cref="SizeOf"/> bytes; the two are kept in one file so they cannot drift apart.
/// </summary>
internal static class RecordEncoder
{
    /// <summary>The record body size (everything after the length varint).</summary>
    public static int BodySize(int offsetDelta, long timestampDelta, ReadOnlySpan<byte> key, bool hasKey,
        ReadOnlySpan<byte> value, bool hasValue, ReadOnlySpan<RecordHeader> headers)
    {
        long size = 1 + WireSize.Varlong(timestampDelta) + WireSize.Varint(offsetDelta)
            + NullableBytesSize(key.Length, hasKey) + NullableBytesSize(value.Length, hasValue)
            + WireSize.Varint(headers.Length);
        foreach (var header in headers)
        {
            int keyBytes = Encoding.UTF8.GetByteCount(header.Key);
            size += WireSize.Varint(keyBytes) + keyBytes;
            size += header.Value is { } v ? WireSize.Varint(v.Length) + v.Length : 1;
        }
        if (size > int.MaxValue / 2) throw new ArgumentException($"a record of {size} bytes is too large");
        return (int)size;
    }

    /// <summary>The body size when headers are copied as already-encoded bytes.</summary>
    public static int BodySizeWithEncodedHeaders(int offsetDelta, long timestampDelta, ReadOnlySpan<byte> key, bool hasKey,
        ReadOnlySpan<byte> value, bool hasValue, int headerCount, int encodedHeadersLength)
    {
        long size = 1 + WireSize.Varlong(timestampDelta) + WireSize.Varint(offsetDelta)
            + NullableBytesSize(key.Length, hasKey) + NullableBytesSize(value.Length, hasValue)
            + WireSize.Varint(headerCount) + encodedHeadersLength;
        if (size > int.MaxValue / 2) throw new ArgumentException($"a record of {size} bytes is too large");
        return (int)size;
    }

    /// <summary>Writes a record whose headers are already encoded (count + bytes from a record view).</summary>
    public static int WriteWithEncodedHeaders(Span<byte> destination, int bodySize, int offsetDelta, long timestampDelta,
        ReadOnlySpan<byte> key, bool hasKey, ReadOnlySpan<byte> value, bool hasValue, int headerCount, ReadOnlySpan<byte> encodedHeaders)
    {
        var writer = new KafkaWriter(destination);
        WritePrefix(ref writer, bodySize, offsetDelta, timestampDelta, key, hasKey, value, hasValue);
        writer.WriteVarint(headerCount);
        writer.WriteRaw(encodedHeaders);
        return writer.Position;
    }

    public static int SizeOf(int bodySize) => WireSize.Varint(bodySize) + bodySize;

    private static int NullableBytesSize(int length, bool present) => present ? WireSize.Varint(length) + length : 1;

    /// <summary>Writes the record (length varint + body) into <paramref name="destination"/>; returns bytes written.</summary>
    public static int Write(Span<byte> destination, int bodySize, int offsetDelta, long timestampDelta,
        ReadOnlySpan<byte> key, bool hasKey, ReadOnlySpan<byte> value, bool hasValue, ReadOnlySpan<RecordHeader> headers)
    {
        var writer = new KafkaWriter(destination);
        WritePrefix(ref writer, bodySize, offsetDelta, timestampDelta, key, hasKey, value, hasValue);
        writer.WriteVarint(headers.Length);
        foreach (var header in headers)
        {
            int keyBytes = Encoding.UTF8.GetByteCount(header.Key);
            writer.WriteVarint(keyBytes);
            var keySpan = destination.Slice(writer.Position, keyBytes);
            Encoding.UTF8.GetBytes(header.Key, keySpan);
            writer.WriteRaw(keySpan); // advances past the bytes just encoded in place
            if (header.Value is { } v) WriteNullable(ref writer, v.Span, true);
            else writer.WriteVarint(-1);
        }
        return writer.Position;
    }

    private static void WritePrefix(ref KafkaWriter writer, int bodySize, int offsetDelta, long timestampDelta,
        ReadOnlySpan<byte> key, bool hasKey, ReadOnlySpan<byte> value, bool hasValue)
    {
        writer.WriteVarint(bodySize);
        writer.WriteInt8(0); // record attributes: unused
        writer.WriteVarlong(timestampDelta);
        writer.WriteVarint(offsetDelta);
        WriteNullable(ref writer, key, hasKey);
        WriteNullable(ref writer, value, hasValue);
    }

    private static void WriteNullable(ref KafkaWriter writer, ReadOnlySpan<byte> bytes, bool present)
    {
        if (!present)
        {
            writer.WriteVarint(-1);
            return;
        }
        writer.WriteVarint(bytes.Length);
        writer.WriteRaw(bytes);
    }
}
