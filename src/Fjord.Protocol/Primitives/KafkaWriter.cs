using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Text;
using Fjord.Common;

namespace Fjord.Protocol;

/// <summary>
/// Writes Kafka wire primitives into a span sized beforehand by the messages' <c>ComputeSize</c>
/// (so encoding never grows or copies a buffer). Writing past the end is a bug in the size
/// computation and throws.
/// </summary>
public ref struct KafkaWriter
{
    private readonly Span<byte> _span;
    private int _position;

    public KafkaWriter(Span<byte> destination)
    {
        _span = destination;
        _position = 0;
    }

    public readonly int Position => _position;
    public readonly Span<byte> Written => _span[.._position];

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private Span<byte> Advance(int count)
    {
        var slice = _span.Slice(_position, count);
        _position += count;
        return slice;
    }

    public void WriteBool(bool value) => Advance(1)[0] = value ? (byte)1 : (byte)0;
    public void WriteInt8(sbyte value) => Advance(1)[0] = (byte)value;
    public void WriteInt16(short value) => BinaryPrimitives.WriteInt16BigEndian(Advance(2), value);
    public void WriteUInt16(ushort value) => BinaryPrimitives.WriteUInt16BigEndian(Advance(2), value);
    public void WriteInt32(int value) => BinaryPrimitives.WriteInt32BigEndian(Advance(4), value);
    public void WriteUInt32(uint value) => BinaryPrimitives.WriteUInt32BigEndian(Advance(4), value);
    public void WriteInt64(long value) => BinaryPrimitives.WriteInt64BigEndian(Advance(8), value);
    public void WriteFloat64(double value) => BinaryPrimitives.WriteDoubleBigEndian(Advance(8), value);
    public void WriteUuid(Uuid value) => value.WriteBytes(Advance(16));

    public void WriteUnsignedVarint(uint value)
    {
        while (value >= 0x80)
        {
            _span[_position++] = (byte)(value | 0x80);
            value >>= 7;
        }
        _span[_position++] = (byte)value;
    }

    public void WriteVarint(int value) => WriteUnsignedVarint((uint)((value << 1) ^ (value >> 31)));

    public void WriteVarlong(long value)
    {
        ulong v = (ulong)((value << 1) ^ (value >> 63));
        while (v >= 0x80)
        {
            _span[_position++] = (byte)(v | 0x80);
            v >>= 7;
        }
        _span[_position++] = (byte)v;
    }

    public void WriteString(string? value, bool compact)
    {
        if (value is null)
        {
            if (compact) WriteUnsignedVarint(0); else WriteInt16(-1);
            return;
        }
        int length = Encoding.UTF8.GetByteCount(value);
        if (compact) WriteUnsignedVarint((uint)length + 1);
        else
        {
            if (length > short.MaxValue) throw new ProtocolEncodeException($"string of {length} bytes is longer than int16 allows");
            WriteInt16((short)length);
        }
        Encoding.UTF8.GetBytes(value, Advance(length));
    }

    public void WriteBytes(ReadOnlySpan<byte> value, bool compact)
    {
        if (compact) WriteUnsignedVarint((uint)value.Length + 1); else WriteInt32(value.Length);
        value.CopyTo(Advance(value.Length));
    }

    public void WriteNullBytes(bool compact)
    {
        if (compact) WriteUnsignedVarint(0); else WriteInt32(-1);
    }

    public void WriteArrayCount(int count, bool compact)
    {
        if (compact) WriteUnsignedVarint(count < 0 ? 0u : (uint)count + 1); else WriteInt32(count);
    }

    public void WriteRaw(ReadOnlySpan<byte> bytes) => bytes.CopyTo(Advance(bytes.Length));
}

/// <summary>Sizes of the primitives, matching <see cref="KafkaWriter"/>.</summary>
public static class WireSize
{
    public static int UnsignedVarint(uint value) => value < 1u << 7 ? 1 : value < 1u << 14 ? 2 : value < 1u << 21 ? 3 : value < 1u << 28 ? 4 : 5;
    public static int Varint(int value) => UnsignedVarint((uint)((value << 1) ^ (value >> 31)));

    public static int Varlong(long value)
    {
        ulong v = (ulong)((value << 1) ^ (value >> 63));
        int size = 1;
        while (v >= 0x80) { v >>= 7; size++; }
        return size;
    }

    public static int String(string? value, bool compact)
    {
        if (value is null) return compact ? 1 : 2;
        int length = Encoding.UTF8.GetByteCount(value);
        return (compact ? UnsignedVarint((uint)length + 1) : 2) + length;
    }

    public static int Bytes(int length, bool compact) =>
        length < 0 ? (compact ? 1 : 4) : (compact ? UnsignedVarint((uint)length + 1) : 4) + length;

    public static int ArrayCount(int count, bool compact) =>
        compact ? UnsignedVarint(count < 0 ? 0u : (uint)count + 1) : 4;
}
