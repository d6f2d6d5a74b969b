using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Text;
using Fjord.Common;

namespace Fjord.Protocol;

/// <summary>
/// Reads Kafka wire primitives from a buffer. Every read checks the bytes exist before using them,
/// and every length or count is checked against the bytes that remain before anything is
/// allocated for it, so hostile input costs at most its own size. Failures throw
/// <see cref="ProtocolDecodeException"/> naming the field.
/// <c>records</c> and <see cref="ReadMemory"/> return slices of the source buffer (no copy).
/// </summary>
public ref struct KafkaReader
{
    private readonly ReadOnlyMemory<byte> _memory;
    private readonly ReadOnlySpan<byte> _span;
    private int _position;

    public KafkaReader(ReadOnlyMemory<byte> memory)
    {
        _memory = memory;
        _span = memory.Span;
        _position = 0;
    }

    public readonly int Position => _position;
    public readonly int Remaining => _span.Length - _position;
    public readonly bool IsAtEnd => _position == _span.Length;
    public readonly int Length => _span.Length;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ReadOnlySpan<byte> Take(int count, string field)
    {
        if ((uint)count > (uint)(_span.Length - _position))
            throw Truncated(field, count);
        var slice = _span.Slice(_position, count);
        _position += count;
        return slice;
    }

    private readonly ProtocolDecodeException Truncated(string field, int wanted) =>
        new(field, $"needs {wanted} bytes at position {_position}, only {_span.Length - _position} remain");

    public bool ReadBool(string field) => Take(1, field)[0] != 0;
    public sbyte ReadInt8(string field) => (sbyte)Take(1, field)[0];
    public short ReadInt16(string field) => BinaryPrimitives.ReadInt16BigEndian(Take(2, field));
    public ushort ReadUInt16(string field) => BinaryPrimitives.ReadUInt16BigEndian(Take(2, field));
    public int ReadInt32(string field) => BinaryPrimitives.ReadInt32BigEndian(Take(4, field));
    public uint ReadUInt32(string field) => BinaryPrimitives.ReadUInt32BigEndian(Take(4, field));
    public long ReadInt64(string field) => BinaryPrimitives.ReadInt64BigEndian(Take(8, field));
    public double ReadFloat64(string field) => BinaryPrimitives.ReadDoubleBigEndian(Take(8, field));
    public Uuid ReadUuid(string field) => Uuid.FromBytes(Take(16, field));

    /// <summary>Unsigned LEB128, at most 5 bytes for a 32-bit value.</summary>
    public uint ReadUnsignedVarint(string field)
    {
        uint value = 0;
        for (int shift = 0; shift < 35; shift += 7)
        {
            if (_position >= _span.Length) throw Truncated(field, 1);
            byte b = _span[_position++];
            if (shift == 28 && (b & 0xF0) != 0)
                throw new ProtocolDecodeException(field, "varint does not fit in 32 bits");
            value |= (uint)(b & 0x7F) << shift;
            if ((b & 0x80) == 0) return value;
        }
        throw new ProtocolDecodeException(field, "varint longer than 5 bytes");
    }

    /// <summary>Zig-zag signed varint (record fields).</summary>
    public int ReadVarint(string field)
    {
        uint raw = ReadUnsignedVarint(field);
        return (int)(raw >> 1) ^ -(int)(raw & 1);
    }

    /// <summary>Zig-zag signed varlong, at most 10 bytes.</summary>
    public long ReadVarlong(string field)
    {
        ulong value = 0;
        for (int shift = 0; shift < 70; shift += 7)
        {
            if (_position >= _span.Length) throw Truncated(field, 1);
            byte b = _span[_position++];
            if (shift == 63 && (b & 0xFE) != 0)
                throw new ProtocolDecodeException(field, "varlong does not fit in 64 bits");
            value |= (ulong)(b & 0x7F) << shift;
            if ((b & 0x80) == 0) return (long)(value >> 1) ^ -(long)(value & 1);
        }
        throw new ProtocolDecodeException(field, "varlong longer than 10 bytes");
    }

    /// <summary>Reads a length prefix: int16/int32 (classic) or unsigned varint minus one
    /// (compact). Returns -1 for null. Checks the length against what remains.</summary>
    private int ReadLength(string field, bool compact, bool wide)
    {
        int length;
        if (compact)
        {
            uint raw = ReadUnsignedVarint(field);
            length = raw == 0 ? -1 : raw - 1 > int.MaxValue ? throw new ProtocolDecodeException(field, $"length {raw - 1} is too large") : (int)(raw - 1);
        }
        else
        {
            length = wide ? ReadInt32(field) : ReadInt16(field);
            if (length < -1) throw new ProtocolDecodeException(field, $"negative length {length}");
        }
        if (length > Remaining)
            throw new ProtocolDecodeException(field, $"length {length} exceeds the {Remaining} bytes that remain");
        return length;
    }

    /// <summary>A string; null only if <paramref name="nullable"/>.</summary>
    public string? ReadString(string field, bool compact, bool nullable)
    {
        int length = ReadLength(field, compact, wide: false);
        if (length < 0)
        {
            if (!nullable) throw new ProtocolDecodeException(field, "null in a non-nullable string");
            return null;
        }
        var bytes = Take(length, field);
        try { return StrictUtf8.GetString(bytes); }
        catch (DecoderFallbackException) { throw new ProtocolDecodeException(field, "string is not valid UTF-8"); }
    }

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>A byte array (copied); null only if <paramref name="nullable"/>.</summary>
    public byte[]? ReadBytes(string field, bool compact, bool nullable)
    {
        var memory = ReadMemory(field, compact, nullable);
        return memory?.ToArray();
    }

    /// <summary>A byte region as a slice of the source buffer (no copy).</summary>
    public ReadOnlyMemory<byte>? ReadMemory(string field, bool compact, bool nullable)
    {
        int length = ReadLength(field, compact, wide: true);
        if (length < 0)
        {
            if (!nullable) throw new ProtocolDecodeException(field, "null in a non-nullable byte field");
            return null;
        }
        var slice = _memory.Slice(_position, length);
        _position += length;
        return slice;
    }

    /// <summary>An array's element count; -1 for null (only if nullable). A count is refused when
    /// even <paramref name="minElementBytes"/> per element cannot fit in what remains.</summary>
    public int ReadArrayCount(string field, bool compact, bool nullable, int minElementBytes)
    {
        int count;
        if (compact)
        {
            uint raw = ReadUnsignedVarint(field);
            count = raw == 0 ? -1 : (int)Math.Min(raw - 1, int.MaxValue);
        }
        else
        {
            count = ReadInt32(field);
            if (count < -1) throw new ProtocolDecodeException(field, $"negative array count {count}");
        }
        if (count < 0)
        {
            if (!nullable) throw new ProtocolDecodeException(field, "null in a non-nullable array");
            return -1;
        }
        if ((long)count * Math.Max(minElementBytes, 0) > Remaining)
            throw new ProtocolDecodeException(field, $"array count {count} cannot fit in the {Remaining} bytes that remain");
        return count;
    }

    /// <summary>Returns a reader over the next <paramref name="length"/> bytes and skips them here.</summary>
    public KafkaReader ReadSubReader(string field, int length)
    {
        if ((uint)length > (uint)Remaining) throw Truncated(field, length);
        var sub = new KafkaReader(_memory.Slice(_position, length));
        _position += length;
        return sub;
    }

    /// <summary>Copies the next <paramref name="length"/> bytes.</summary>
    public byte[] ReadRaw(string field, int length) => Take(length, field).ToArray();

    public void Skip(string field, int length) => Take(length, field);

    /// <summary>Reads the tagged-field count and checks it is plausible (each field takes at least two bytes).</summary>
    public int ReadTaggedFieldCount(string field)
    {
        uint count = ReadUnsignedVarint(field);
        if (count > (uint)Remaining / 2)
            throw new ProtocolDecodeException(field, $"tagged field count {count} cannot fit in the {Remaining} bytes that remain");
        return (int)count;
    }

    /// <summary>Fails unless the whole buffer was consumed.</summary>
    public readonly void EnsureAtEnd(string field)
    {
        if (!IsAtEnd) throw new ProtocolDecodeException(field, $"{Remaining} unexpected bytes after the end");
    }
}
