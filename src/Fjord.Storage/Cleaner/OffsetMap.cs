using System.Buffers.Binary;
using System.Numerics;
using System.Security.Cryptography;

namespace Fjord.Storage;

/// <summary>
/// The cleaner's key → latest-offset map over the dirty section of a log, in a fixed amount of
/// memory: an open-addressing table (linear probing) of 24-byte slots, each a 128-bit key hash
/// (the first 16 bytes of SHA-256 of the key) and the offset of the latest record with that key.
/// </summary>
/// <remarks>
/// Invariants: the slot count is a power of two; <see cref="Count"/> never exceeds
/// <see cref="MaxEntries"/> (= slots × load factor), so a probe always ends on an empty slot;
/// an empty slot holds offset -1. Two keys with the same 128-bit hash would share a slot (the
/// older record of one could be dropped for the other): with SHA-256 that is not a practical risk.
/// <see cref="LatestOffset"/> is the last offset the map covers (records past it are unknown to
/// it and must be kept). Not thread-safe: one cleaner owns one map and reuses it (<see cref="Clear"/>).
/// </remarks>
internal sealed class OffsetMap
{
    public const int SlotBytes = 24;
    public const int HashBytes = 16;
    public const double DefaultLoadFactor = 0.9;

    private readonly ulong[] _hashHigh;
    private readonly ulong[] _hashLow;
    private readonly long[] _offsets;
    private readonly int _mask;

    /// <summary>A map using at most <paramref name="memoryBytes"/> bytes (rounded down to a power
    /// of two slots, at least 16).</summary>
    public OffsetMap(long memoryBytes, double loadFactor = DefaultLoadFactor)
    {
        if (loadFactor is <= 0 or >= 1) throw new ArgumentOutOfRangeException(nameof(loadFactor), "the load factor must be in (0, 1)");
        long wanted = Math.Max(16, memoryBytes / SlotBytes);
        int slots = (int)Math.Min(1L << 30, (long)BitOperations.RoundUpToPowerOf2((ulong)wanted + 1) >> 1);
        _hashHigh = new ulong[slots];
        _hashLow = new ulong[slots];
        _offsets = new long[slots];
        _mask = slots - 1;
        MaxEntries = Math.Max(1, (int)(slots * loadFactor));
        Clear();
    }

    public int Slots => _offsets.Length;

    /// <summary>How many distinct keys the map takes before <see cref="TryPut"/> refuses new ones.</summary>
    public int MaxEntries { get; }

    public int Count { get; private set; }

    /// <summary>The last offset this map has seen (-1 when none): records after it were not indexed.</summary>
    public long LatestOffset { get; private set; }

    public bool IsFull => Count >= MaxEntries;

    public double Utilization => (double)Count / Slots;

    public void Clear()
    {
        Array.Fill(_offsets, -1L);
        Count = 0;
        LatestOffset = -1;
    }

    /// <summary>Records that the map covers every offset up to <paramref name="offset"/> (never moves back).</summary>
    public void UpdateLatestOffset(long offset)
    {
        if (offset > LatestOffset) LatestOffset = offset;
    }

    /// <summary>
    /// Sets the latest offset of <paramref name="key"/>. Returns false, changing nothing, when the
    /// key is new and the map already holds <see cref="MaxEntries"/> keys.
    /// </summary>
    public bool TryPut(ReadOnlySpan<byte> key, long offset)
    {
        if (offset < 0) throw new ArgumentOutOfRangeException(nameof(offset), "offsets are non-negative");
        Hash(key, out ulong high, out ulong low);
        int slot = FindSlot(high, low);
        if (_offsets[slot] < 0)
        {
            if (Count >= MaxEntries) return false;
            _hashHigh[slot] = high;
            _hashLow[slot] = low;
            Count++;
        }
        _offsets[slot] = offset;
        UpdateLatestOffset(offset);
        return true;
    }

    /// <summary>The latest offset recorded for <paramref name="key"/>, or -1 when it is not in the map.</summary>
    public long Get(ReadOnlySpan<byte> key)
    {
        Hash(key, out ulong high, out ulong low);
        return _offsets[FindSlot(high, low)];
    }

    /// <summary>The slot holding this hash, or the empty slot where it would go.</summary>
    private int FindSlot(ulong high, ulong low)
    {
        int slot = (int)(low & (ulong)_mask);
        while (_offsets[slot] >= 0 && (_hashHigh[slot] != high || _hashLow[slot] != low))
            slot = (slot + 1) & _mask;
        return slot;
    }

    internal static void Hash(ReadOnlySpan<byte> key, out ulong high, out ulong low)
    {
        Span<byte> digest = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(key, digest);
        high = BinaryPrimitives.ReadUInt64LittleEndian(digest);
        low = BinaryPrimitives.ReadUInt64LittleEndian(digest[8..]);
    }
}
