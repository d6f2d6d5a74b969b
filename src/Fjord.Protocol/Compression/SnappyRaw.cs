using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace Fjord.Protocol.Compression;

/// <summary>
/// Raw (unframed) snappy: a varint uncompressed length, then elements whose tag's low two bits say
/// literal (00), copy with 1-byte offset (01), 2-byte offset (10) or 4-byte offset (11).
/// The compressor works on independent 64 KiB fragments, so every copy fits the 2-byte form.
/// </summary>
internal static class SnappyRaw
{
    private const int FragmentBytes = 1 << 16;
    private const int HashBits = 14;
    private const int MinMatch = 4;

    /// <summary>No snappy element yields more than 64 bytes from 3 input bytes; this bounds the
    /// length any honest header can claim for a given input size.</summary>
    public const int MaxExpansion = 22;

    /// <summary>Worst-case size of <see cref="Compress"/>'s output.</summary>
    public static int MaxCompressedLength(int length) => 32 + length + length / 6;

    /// <summary>Compresses <paramref name="source"/> into <paramref name="destination"/> (at least
    /// <see cref="MaxCompressedLength"/> bytes); returns the bytes written.</summary>
    public static int Compress(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        int op = WriteVarint(destination, (uint)source.Length);
        var table = ArrayPool<ushort>.Shared.Rent(1 << HashBits);
        try
        {
            for (int start = 0; start < source.Length; start += FragmentBytes)
            {
                var fragment = source.Slice(start, Math.Min(FragmentBytes, source.Length - start));
                Array.Clear(table, 0, 1 << HashBits);
                op = CompressFragment(fragment, destination, op, table);
            }
        }
        finally
        {
            ArrayPool<ushort>.Shared.Return(table);
        }
        return op;
    }

    private static int CompressFragment(ReadOnlySpan<byte> src, Span<byte> dst, int op, ushort[] table)
    {
        int nextEmit = 0;
        if (src.Length >= 16)
        {
            int limit = src.Length - MinMatch; // last position a 4-byte read can start
            int ip = 0;
            uint skip = 32;
            while (ip <= limit)
            {
                uint word = BinaryPrimitives.ReadUInt32LittleEndian(src[ip..]);
                uint h = Hash(word);
                int candidate = table[h];
                table[h] = (ushort)ip;
                if (candidate >= ip || BinaryPrimitives.ReadUInt32LittleEndian(src[candidate..]) != word)
                {
                    ip += (int)(skip++ >> 5);
                    continue;
                }
                skip = 32;
                op = EmitLiteral(src[nextEmit..ip], dst, op);
                int length = MinMatch + CommonPrefix(src[(candidate + MinMatch)..], src[(ip + MinMatch)..]);
                op = EmitCopy(ip - candidate, length, dst, op);
                ip += length;
                nextEmit = ip;
                if (ip - 1 <= limit)
                    table[Hash(BinaryPrimitives.ReadUInt32LittleEndian(src[(ip - 1)..]))] = (ushort)(ip - 1);
            }
        }
        return nextEmit < src.Length ? EmitLiteral(src[nextEmit..], dst, op) : op;
    }

    private static uint Hash(uint word) => (word * 0x1E35A7BDu) >> (32 - HashBits);

    private static int CommonPrefix(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b) => a.CommonPrefixLength(b);

    private static int EmitLiteral(ReadOnlySpan<byte> literal, Span<byte> dst, int op)
    {
        if (literal.IsEmpty) return op;
        uint n = (uint)literal.Length - 1;
        if (n < 60) dst[op++] = (byte)(n << 2);
        else
        {
            int extra = n < 1u << 8 ? 1 : n < 1u << 16 ? 2 : n < 1u << 24 ? 3 : 4;
            dst[op++] = (byte)((59 + extra) << 2);
            for (int i = 0; i < extra; i++) dst[op++] = (byte)(n >> (8 * i));
        }
        literal.CopyTo(dst[op..]);
        return op + literal.Length;
    }

    private static int EmitCopy(int offset, int length, Span<byte> dst, int op)
    {
        while (length >= 68) { op = EmitCopy2(offset, 64, dst, op); length -= 64; }
        if (length > 64) { op = EmitCopy2(offset, 60, dst, op); length -= 60; }
        if (length < 12 && offset < 2048)
        {
            dst[op++] = (byte)(1 | ((length - 4) << 2) | ((offset >> 8) << 5));
            dst[op++] = (byte)offset;
            return op;
        }
        return EmitCopy2(offset, length, dst, op);
    }

    private static int EmitCopy2(int offset, int length, Span<byte> dst, int op)
    {
        dst[op] = (byte)(2 | ((length - 1) << 2));
        BinaryPrimitives.WriteUInt16LittleEndian(dst[(op + 1)..], (ushort)offset);
        return op + 3;
    }

    private static int WriteVarint(Span<byte> dst, uint value)
    {
        int i = 0;
        while (value >= 0x80) { dst[i++] = (byte)(value | 0x80); value >>= 7; }
        dst[i++] = (byte)value;
        return i;
    }

    /// <summary>Reads the uncompressed length preamble; throws for malformed or implausible
    /// lengths (more than <see cref="MaxExpansion"/> times the input).</summary>
    public static int ReadUncompressedLength(ReadOnlySpan<byte> source, out int preambleBytes)
    {
        uint value = 0;
        for (int i = 0; i < 5; i++)
        {
            if (i >= source.Length) throw Corrupt("truncated length preamble");
            byte b = source[i];
            if (i == 4 && b > 0x0F) throw Corrupt("length preamble does not fit in 32 bits");
            value |= (uint)(b & 0x7F) << (7 * i);
            if (b < 0x80)
            {
                preambleBytes = i + 1;
                if (value > int.MaxValue || value > (ulong)(source.Length - preambleBytes) * MaxExpansion)
                    throw Corrupt($"claims {value} bytes from {source.Length} compressed bytes");
                return (int)value;
            }
        }
        throw Corrupt("length preamble longer than 5 bytes");
    }

    /// <summary>Decodes the elements after the preamble into <paramref name="dst"/>, which must be
    /// exactly the uncompressed length; every offset and length is checked before use, and the
    /// word-wide fast paths run only where the room for their over-copy was checked.</summary>
    public static void DecompressBody(ReadOnlySpan<byte> src, Span<byte> dst)
    {
        ref byte s = ref MemoryMarshal.GetReference(src);
        ref byte d = ref MemoryMarshal.GetReference(dst);
        int srcLength = src.Length, dstLength = dst.Length;
        int ip = 0, op = 0;
        while (ip < srcLength)
        {
            byte tag = src[ip++];
            int kind = tag & 3;
            if (kind == 0)
            {
                long length = (tag >> 2) + 1;
                if (length <= 16 && srcLength - ip >= 16 && dstLength - op >= 16)
                {
                    MatchCopy.Copy16(ref d, op, ref s, ip);
                    ip += (int)length;
                    op += (int)length;
                    continue;
                }
                if (length > 60)
                {
                    int extra = (int)length - 60;
                    if (ip + extra > srcLength) throw Corrupt("truncated literal length");
                    uint n = 0;
                    for (int i = 0; i < extra; i++) n |= (uint)src[ip + i] << (8 * i);
                    ip += extra;
                    length = (long)n + 1;
                }
                if (length > srcLength - ip) throw Corrupt($"literal of {length} bytes overruns the input");
                if (length > dstLength - op) throw Corrupt("literal overruns the declared length");
                src.Slice(ip, (int)length).CopyTo(dst[op..]);
                ip += (int)length;
                op += (int)length;
                continue;
            }
            int copyLength, offset;
            if (kind == 1)
            {
                if (ip >= srcLength) throw Corrupt("truncated copy");
                copyLength = 4 + ((tag >> 2) & 7);
                offset = ((tag >> 5) << 8) | src[ip++];
            }
            else if (kind == 2)
            {
                if (ip + 2 > srcLength) throw Corrupt("truncated copy");
                copyLength = (tag >> 2) + 1;
                offset = BinaryPrimitives.ReadUInt16LittleEndian(src[ip..]);
                ip += 2;
            }
            else
            {
                if (ip + 4 > srcLength) throw Corrupt("truncated copy");
                copyLength = (tag >> 2) + 1;
                uint wide = BinaryPrimitives.ReadUInt32LittleEndian(src[ip..]);
                offset = wide > int.MaxValue ? int.MaxValue : (int)wide;
                ip += 4;
            }
            if (offset == 0 || offset > op) throw Corrupt($"copy offset {offset} at output position {op}");
            if (offset >= 8 && dstLength - op >= copyLength + 7)
                MatchCopy.CopyWords(ref d, op, offset, copyLength); // copyLength ≤ 64, rounded up to words
            else if (copyLength > dstLength - op) throw Corrupt("copy overruns the declared length");
            else MatchCopy.Copy(dst, op, offset, copyLength);
            op += copyLength;
        }
        if (op != dstLength) throw Corrupt($"decoded {op} bytes but the preamble declared {dstLength}");
    }

    private static ProtocolDecodeException Corrupt(string problem) => new("snappy", problem);
}
