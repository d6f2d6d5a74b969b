using System.Buffers;

namespace Fjord.Protocol.Compression;

/// <summary>
/// A growable <see cref="IBufferWriter{T}"/> over arrays rented from <see cref="ArrayPool{T}.Shared"/>.
/// Used for decompressed record data and for batch assembly so steady-state work reuses pooled
/// arrays instead of allocating.
/// </summary>
/// <remarks>
/// Invariants: <see cref="WrittenCount"/> ≤ capacity; memory handed out by <see cref="WrittenMemory"/>
/// is valid only until the next growth, <see cref="Clear"/> or <see cref="Dispose"/>. Dispose is
/// idempotent and returns the array to the pool exactly once. Not thread-safe.
/// </remarks>
public sealed class PooledBufferWriter : IBufferWriter<byte>, IDisposable
{
    private byte[] _buffer;
    private int _written;

    public PooledBufferWriter(int initialCapacity = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(initialCapacity);
        _buffer = initialCapacity == 0 ? [] : ArrayPool<byte>.Shared.Rent(initialCapacity);
    }

    public int WrittenCount => _written;
    public int Capacity => _buffer.Length;
    public ReadOnlyMemory<byte> WrittenMemory => _buffer.AsMemory(0, _written);
    public ReadOnlySpan<byte> WrittenSpan => _buffer.AsSpan(0, _written);

    /// <summary>The written bytes, writable (for patching headers after the fact).</summary>
    public Span<byte> WrittenSpanMutable => _buffer.AsSpan(0, _written);

    public void Advance(int count)
    {
        if ((uint)count > (uint)(_buffer.Length - _written))
            throw new InvalidOperationException($"cannot advance {count} bytes: only {_buffer.Length - _written} were handed out");
        _written += count;
    }

    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        EnsureFree(sizeHint);
        return _buffer.AsMemory(_written);
    }

    public Span<byte> GetSpan(int sizeHint = 0)
    {
        EnsureFree(sizeHint);
        return _buffer.AsSpan(_written);
    }

    /// <summary>Forgets the written bytes but keeps the rented array.</summary>
    public void Clear() => _written = 0;

    /// <summary>Drops the written bytes past <paramref name="length"/>.</summary>
    public void Truncate(int length)
    {
        if ((uint)length > (uint)_written) throw new ArgumentOutOfRangeException(nameof(length));
        _written = length;
    }

    public byte[] ToArray() => WrittenSpan.ToArray();

    public void Dispose()
    {
        var buffer = _buffer;
        _buffer = [];
        _written = 0;
        if (buffer.Length > 0) ArrayPool<byte>.Shared.Return(buffer);
    }

    private void EnsureFree(int sizeHint)
    {
        if (sizeHint < 1) sizeHint = 1;
        if (_buffer.Length - _written >= sizeHint) return;
        long wanted = Math.Max((long)_written + sizeHint, Math.Max(256L, (long)_buffer.Length * 2));
        if ((long)_written + sizeHint > Array.MaxLength)
            throw new OutOfMemoryException($"a pooled buffer cannot grow past {Array.MaxLength} bytes");
        var next = ArrayPool<byte>.Shared.Rent((int)Math.Min(wanted, Array.MaxLength));
        _buffer.AsSpan(0, _written).CopyTo(next);
        if (_buffer.Length > 0) ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = next;
    }
}
