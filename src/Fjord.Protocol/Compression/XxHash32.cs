using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.CompilerServices;

namespace Fjord.Protocol.Compression;

/// <summary>
/// xxHash32 (the checksum of the LZ4 frame format: header, block and content checksums), one-shot
/// and streaming. A default-constructed value is not usable; start with <see cref="Create"/>.
/// </summary>
internal struct XxHash32
{
    private const uint Prime1 = 2654435761u;
    private const uint Prime2 = 2246822519u;
    private const uint Prime3 = 3266489917u;
    private const uint Prime4 = 668265263u;
    private const uint Prime5 = 374761393u;

    [InlineArray(16)]
    private struct Stripe { private byte _first; }

    private uint _v1, _v2, _v3, _v4, _seed;
    private ulong _totalLength;
    private Stripe _pending;
    private int _pendingCount;

    public static XxHash32 Create(uint seed = 0) => new()
    {
        _seed = seed,
        _v1 = seed + Prime1 + Prime2,
        _v2 = seed + Prime2,
        _v3 = seed,
        _v4 = seed - Prime1,
    };

    public static uint Hash(ReadOnlySpan<byte> data, uint seed = 0)
    {
        var state = Create(seed);
        state.Append(data);
        return state.Digest();
    }

    public void Append(ReadOnlySpan<byte> data)
    {
        _totalLength += (ulong)data.Length;
        if (_pendingCount > 0)
        {
            int take = Math.Min(16 - _pendingCount, data.Length);
            data[..take].CopyTo(((Span<byte>)_pending)[_pendingCount..]);
            _pendingCount += take;
            data = data[take..];
            if (_pendingCount < 16) return;
            ConsumeStripe(_pending);
            _pendingCount = 0;
        }
        while (data.Length >= 16)
        {
            ConsumeStripe(data);
            data = data[16..];
        }
        data.CopyTo(_pending);
        _pendingCount = data.Length;
    }

    private void ConsumeStripe(ReadOnlySpan<byte> stripe)
    {
        _v1 = Round(_v1, BinaryPrimitives.ReadUInt32LittleEndian(stripe));
        _v2 = Round(_v2, BinaryPrimitives.ReadUInt32LittleEndian(stripe[4..]));
        _v3 = Round(_v3, BinaryPrimitives.ReadUInt32LittleEndian(stripe[8..]));
        _v4 = Round(_v4, BinaryPrimitives.ReadUInt32LittleEndian(stripe[12..]));
    }

    private static uint Round(uint accumulator, uint lane) =>
        BitOperations.RotateLeft(accumulator + lane * Prime2, 13) * Prime1;

    public readonly uint Digest()
    {
        uint hash = _totalLength >= 16
            ? BitOperations.RotateLeft(_v1, 1) + BitOperations.RotateLeft(_v2, 7) +
              BitOperations.RotateLeft(_v3, 12) + BitOperations.RotateLeft(_v4, 18)
            : _seed + Prime5;
        hash += (uint)_totalLength;
        ReadOnlySpan<byte> tail = ((ReadOnlySpan<byte>)_pending)[.._pendingCount];
        while (tail.Length >= 4)
        {
            hash = BitOperations.RotateLeft(hash + BinaryPrimitives.ReadUInt32LittleEndian(tail) * Prime3, 17) * Prime4;
            tail = tail[4..];
        }
        foreach (byte b in tail)
            hash = BitOperations.RotateLeft(hash + b * Prime5, 11) * Prime1;
        hash ^= hash >> 15;
        hash *= Prime2;
        hash ^= hash >> 13;
        hash *= Prime3;
        hash ^= hash >> 16;
        return hash;
    }
}
