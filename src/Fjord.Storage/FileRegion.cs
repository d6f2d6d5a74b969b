using Microsoft.Win32.SafeHandles;

namespace Fjord.Storage;

/// <summary>
/// A byte range of a segment file holding whole record batches, exactly as they go on the wire.
/// The handle stays open while the region is in use: a deleted segment keeps its handle for
/// <c>file.delete.delay.ms</c> (<see cref="LogConfig.FileDeleteDelayMs"/>), so a reader that copies
/// (or sends) the region within that time sees the bytes even after retention removed the segment.
/// </summary>
public readonly record struct FileRegion(SafeFileHandle Handle, long Position, int Length)
{
    /// <summary>Copies the region into <paramref name="destination"/> (which must hold
    /// <see cref="Length"/> bytes). Throws <see cref="StorageException"/> when the file is shorter
    /// than the region (it was truncated after the read).</summary>
    public void CopyTo(Span<byte> destination)
    {
        if (destination.Length < Length)
            throw new ArgumentException($"destination holds {destination.Length} bytes; the region has {Length}", nameof(destination));
        int done = 0;
        while (done < Length)
        {
            int read = RandomAccess.Read(Handle, destination[done..Length], Position + done);
            if (read <= 0)
                throw new StorageException($"file region [{Position}, {Position + Length}) ends early at {Position + done}: the segment was truncated after the read");
            done += read;
        }
    }

    public byte[] ToArray()
    {
        var bytes = new byte[Length];
        CopyTo(bytes);
        return bytes;
    }
}
