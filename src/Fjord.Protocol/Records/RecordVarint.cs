using System.Runtime.CompilerServices;

namespace Fjord.Protocol.Records;

/// <summary>
/// Zig-zag varint/varlong readers over a span with an explicit position, as record fields use
/// them. Each read is bounded by the span (a record's body), so a varint can never run into the
/// next record; failures throw <see cref="ProtocolDecodeException"/> naming the field.
/// </summary>
internal static class RecordVarint
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int ReadVarint(ReadOnlySpan<byte> span, ref int position, string field)
    {
        if ((uint)position < (uint)span.Length)
        {
            uint b = span[position];
            if (b < 0x80)
            {
                position++;
                return (int)(b >> 1) ^ -(int)(b & 1);
            }
        }
        uint raw = ReadUnsignedSlow(span, ref position, field);
        return (int)(raw >> 1) ^ -(int)(raw & 1);
    }

    private static uint ReadUnsignedSlow(ReadOnlySpan<byte> span, ref int position, string field)
    {
        uint value = 0;
        for (int shift = 0; shift < 35; shift += 7)
        {
            if ((uint)position >= (uint)span.Length) throw Truncated(field);
            uint b = span[position++];
            if (shift == 28 && (b & 0xF0) != 0) throw new ProtocolDecodeException(field, "varint does not fit in 32 bits");
            value |= (b & 0x7F) << shift;
            if (b < 0x80) return value;
        }
        throw new ProtocolDecodeException(field, "varint longer than 5 bytes");
    }

    public static long ReadVarlong(ReadOnlySpan<byte> span, ref int position, string field)
    {
        ulong value = 0;
        for (int shift = 0; shift < 70; shift += 7)
        {
            if ((uint)position >= (uint)span.Length) throw Truncated(field);
            ulong b = span[position++];
            if (shift == 63 && (b & 0xFE) != 0) throw new ProtocolDecodeException(field, "varlong does not fit in 64 bits");
            value |= (b & 0x7F) << shift;
            if (b < 0x80) return (long)(value >> 1) ^ -(long)(value & 1);
        }
        throw new ProtocolDecodeException(field, "varlong longer than 10 bytes");
    }

    /// <summary>Reads a length of a nullable byte field (-1 = null) and checks the bytes exist.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int ReadLength(ReadOnlySpan<byte> span, ref int position, string field, bool nullable)
    {
        int length = ReadVarint(span, ref position, field);
        if (length < (nullable ? -1 : 0)) throw new ProtocolDecodeException(field, $"invalid length {length}");
        if (length > span.Length - position)
            throw new ProtocolDecodeException(field, $"length {length} exceeds the {span.Length - position} bytes that remain");
        return length;
    }

    private static ProtocolDecodeException Truncated(string field) => new(field, "truncated varint");
}
