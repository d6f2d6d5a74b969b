using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace Fjord.Protocol.Compression;

/// <summary>
/// The LZ4 block format: sequences of (token, literal-length extension, literals, little-endian
/// 16-bit offset, match-length extension); the last sequence holds literals only. The compressor
/// keeps the format's end rules (the last 5 bytes are literals; no match starts in the last 12).
/// </summary>
internal static class Lz4Block
{
    private const int MinMatch = 4;
    private const int LastLiterals = 5;
    private const int MatchFindLimit = 12;
    private const int MaxDistance = 65535;
    private const int HashBits = 13;

    public static int MaxCompressedLength(int length) => length + length / 255 + 16;

    /// <summary>Compresses one block; <paramref name="dst"/> holds at least
    /// <see cref="MaxCompressedLength"/> bytes. Returns the bytes written.</summary>
    public static int Compress(ReadOnlySpan<byte> src, Span<byte> dst)
    {
        int op = 0, anchor = 0;
        if (src.Length > MatchFindLimit)
        {
            int[] table = ArrayPool<int>.Shared.Rent(1 << HashBits);
            try
            {
                Array.Clear(table, 0, 1 << HashBits);
                int matchStartLimit = src.Length - MatchFindLimit;
                int matchEndLimit = src.Length - LastLiterals;
                int ip = 0, misses = 0;
                while (ip <= matchStartLimit)
                {
                    uint word = BinaryPrimitives.ReadUInt32LittleEndian(src[ip..]);
                    uint h = (word * 2654435761u) >> (32 - HashBits);
                    int candidate = table[h] - 1;
                    table[h] = ip + 1;
                    if (candidate < 0 || ip - candidate > MaxDistance ||
                        BinaryPrimitives.ReadUInt32LittleEndian(src[candidate..]) != word)
                    {
                        ip += (misses++ >> 6) + 1;
                        continue;
                    }
                    misses = 0;
                    while (ip > anchor && candidate > 0 && src[ip - 1] == src[candidate - 1]) { ip--; candidate--; }
                    int extendable = matchEndLimit - (ip + MinMatch);
                    int length = MinMatch + src.Slice(ip + MinMatch, extendable).CommonPrefixLength(src.Slice(candidate + MinMatch, extendable));
                    op = EmitSequence(src[anchor..ip], ip - candidate, length, dst, op);
                    ip += length;
                    anchor = ip;
                }
            }
            finally
            {
                ArrayPool<int>.Shared.Return(table);
            }
        }
        return EmitLastLiterals(src[anchor..], dst, op);
    }

    private static int EmitSequence(ReadOnlySpan<byte> literals, int distance, int matchLength, Span<byte> dst, int op)
    {
        int tokenAt = op++;
        int literalCode = Math.Min(literals.Length, 15);
        op = WriteLengthExtension(literals.Length, 15, dst, op);
        literals.CopyTo(dst[op..]);
        op += literals.Length;
        BinaryPrimitives.WriteUInt16LittleEndian(dst[op..], (ushort)distance);
        op += 2;
        int matchCode = Math.Min(matchLength - MinMatch, 15);
        op = WriteLengthExtension(matchLength - MinMatch, 15, dst, op);
        dst[tokenAt] = (byte)((literalCode << 4) | matchCode);
        return op;
    }

    private static int EmitLastLiterals(ReadOnlySpan<byte> literals, Span<byte> dst, int op)
    {
        dst[op++] = (byte)(Math.Min(literals.Length, 15) << 4);
        op = WriteLengthExtension(literals.Length, 15, dst, op);
        literals.CopyTo(dst[op..]);
        return op + literals.Length;
    }

    private static int WriteLengthExtension(int length, int codeMax, Span<byte> dst, int op)
    {
        if (length < codeMax) return op;
        int rest = length - codeMax;
        while (rest >= 255) { dst[op++] = 255; rest -= 255; }
        dst[op++] = (byte)rest;
        return op;
    }

    /// <summary>
    /// Decodes one block into <paramref name="dst"/> starting at <paramref name="start"/>; bytes
    /// before <paramref name="start"/> are history that matches may refer to (linked blocks).
    /// Never writes past <paramref name="dst"/>'s end (the word-wide fast paths run only where the
    /// room for their over-copy was checked). Returns the end position.
    /// </summary>
    public static int Decompress(ReadOnlySpan<byte> src, Span<byte> dst, int start)
    {
        ref byte s = ref MemoryMarshal.GetReference(src);
        ref byte d = ref MemoryMarshal.GetReference(dst);
        int srcLength = src.Length, dstLength = dst.Length;
        int ip = 0, op = start;
        while (true)
        {
            if (ip >= srcLength) throw Corrupt("block ends inside a sequence");
            int token = src[ip++];
            int literalCode = token >> 4;
            if (literalCode != 15 && srcLength - ip >= 16 && dstLength - op >= 16)
            {
                MatchCopy.Copy16(ref d, op, ref s, ip); // at most 14 literals, 16 bytes moved
                ip += literalCode;
                op += literalCode;
            }
            else
            {
                long literalLength = literalCode;
                if (literalCode == 15) literalLength += ReadLengthExtension(src, ref ip);
                if (literalLength > srcLength - ip) throw Corrupt($"literal run of {literalLength} bytes overruns the block");
                if (literalLength > dstLength - op) throw Corrupt($"block decodes past {dstLength - start} bytes (block size or output limit)");
                src.Slice(ip, (int)literalLength).CopyTo(dst[op..]);
                ip += (int)literalLength;
                op += (int)literalLength;
            }
            if (ip == srcLength) return op;

            if (srcLength - ip < 2) throw Corrupt("truncated match offset");
            int distance = BinaryPrimitives.ReadUInt16LittleEndian(src[ip..]);
            ip += 2;
            if (distance == 0 || distance > op) throw Corrupt($"match offset {distance} at output position {op - start}");
            int matchCode = token & 15;
            if (matchCode != 15 && distance >= 8 && dstLength - op >= 24)
            {
                MatchCopy.CopyWords(ref d, op, distance, matchCode + MinMatch); // at most 18 bytes, 24 moved
                op += matchCode + MinMatch;
                continue;
            }
            long matchLength = matchCode + MinMatch;
            if (matchCode == 15) matchLength += ReadLengthExtension(src, ref ip);
            if (matchLength > dstLength - op) throw Corrupt($"block decodes past {dstLength - start} bytes (block size or output limit)");
            MatchCopy.Copy(dst, op, distance, (int)matchLength);
            op += (int)matchLength;
        }
    }

    private static long ReadLengthExtension(ReadOnlySpan<byte> src, ref int ip)
    {
        long total = 0;
        byte b;
        do
        {
            if (ip >= src.Length) throw Corrupt("truncated length extension");
            b = src[ip++];
            total += b;
        } while (b == 255);
        return total;
    }

    private static ProtocolDecodeException Corrupt(string problem) => new("lz4", problem);
}
