using System.Runtime.CompilerServices;

namespace Fjord.Protocol.Compression;

/// <summary>LZ77 copies shared by the snappy and lz4 decoders: an exact, always-safe form and
/// "wide" forms that move whole 8/16-byte words and may write a few bytes past the requested end,
/// which callers use only after checking that the room exists.</summary>
internal static class MatchCopy
{
    /// <summary>
    /// Copies <paramref name="length"/> bytes from <paramref name="position"/> − <paramref name="distance"/>
    /// to <paramref name="position"/> with LZ77 semantics: when the regions overlap the copied
    /// bytes repeat with period <paramref name="distance"/>. The caller has checked
    /// 0 &lt; distance ≤ position and position + length ≤ buffer.Length.
    /// </summary>
    public static void Copy(Span<byte> buffer, int position, int distance, int length)
    {
        int from = position - distance;
        if (distance >= length)
        {
            buffer.Slice(from, length).CopyTo(buffer.Slice(position, length));
            return;
        }
        // Invariant: 'copied' is a multiple of 'distance', so the source window [from, from+chunk)
        // holds exactly the bytes that belong at [position+copied, ...) and never overlaps them.
        int copied = 0;
        while (copied < length)
        {
            int chunk = Math.Min(length - copied, copied + distance);
            buffer.Slice(from, chunk).CopyTo(buffer.Slice(position + copied, chunk));
            copied += chunk;
        }
    }

    /// <summary>
    /// A back-reference copy in 8-byte words: writes [position, position + RoundUp8(length)).
    /// Requires distance ≥ 8 (each word reads only bytes already final), distance ≤ position and
    /// position + RoundUp8(length) ≤ buffer length; the caller checks all three.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void CopyWords(ref byte buffer, int position, int distance, int length)
    {
        ref byte target = ref Unsafe.Add(ref buffer, position);
        ref byte source = ref Unsafe.Add(ref buffer, position - distance);
        for (int i = 0; i < length; i += 8)
            Unsafe.WriteUnaligned(ref Unsafe.Add(ref target, i), Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref source, i)));
    }

    /// <summary>Copies 16 bytes from <paramref name="source"/> to <paramref name="target"/> (distinct
    /// buffers); the caller checked both have 16 bytes of room at these positions.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Copy16(ref byte target, int targetPosition, ref byte source, int sourcePosition)
    {
        ref byte t = ref Unsafe.Add(ref target, targetPosition);
        ref byte s = ref Unsafe.Add(ref source, sourcePosition);
        Unsafe.WriteUnaligned(ref t, Unsafe.ReadUnaligned<ulong>(ref s));
        Unsafe.WriteUnaligned(ref Unsafe.Add(ref t, 8), Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref s, 8)));
    }
}
