using System.Buffers;
using System.Buffers.Binary;
using Fjord.Protocol;
using Fjord.Protocol.Records;

namespace Fjord.Storage;

public sealed partial class LogSegment
{
    /// <summary>Bytes read per chunk during recovery (a larger batch gets a buffer of its own size).</summary>
    private const int RecoveryChunkBytes = 1024 * 1024;

    /// <summary>
    /// Validates every batch from position 0 (framing, magic, CRC via <see cref="RecordBatch.Validate"/>,
    /// offsets strictly increasing and within int32 of the base offset), truncates the file at the first
    /// invalid batch, and rebuilds both indexes from what is valid. Each valid batch whose partition
    /// leader epoch is newer than the cache's latest is assigned in <paramref name="epochs"/>.
    /// Returns the number of bytes truncated. Writer only.
    /// </summary>
    public int Recover(LeaderEpochCache? epochs = null) => Recover(epochs, out _);

    /// <inheritdoc cref="Recover(LeaderEpochCache?)"/>
    /// <param name="problem">Why the first invalid batch was rejected (null when nothing was truncated).</param>
    public int Recover(LeaderEpochCache? epochs, out string? problem)
    {
        ThrowIfDisposed();
        problem = null;
        OffsetIndex.Replace([]);
        TimeIndex.Replace([]);
        Volatile.Write(ref _largest, TimestampMark.Unknown);
        _bytesSinceLastIndexEntry = 0;

        long fileLength = RandomAccess.GetLength(_log);
        int limit = (int)Math.Min(fileLength, int.MaxValue);
        long next = BaseOffset;
        int valid = 0;
        var buffer = ArrayPool<byte>.Shared.Rent(RecoveryChunkBytes);
        try
        {
            while (valid < limit && problem is null)
            {
                int want = Math.Min(buffer.Length, limit - valid);
                ReadFully(buffer.AsSpan(0, want), valid);
                int consumed = ValidateChunk(buffer.AsMemory(0, want), valid, ref next, epochs, out problem, out bool truncatedTail);
                valid += consumed;
                if (problem is not null || !truncatedTail || consumed > 0) continue;

                // A batch does not fit the chunk: grow the buffer to it, or stop if it runs past the file.
                int remaining = limit - valid;
                if (remaining < RecordBatchLayout.LogOverhead) { problem = $"{remaining} trailing bytes at position {valid} cannot hold a batch"; break; }
                long batchSize = RecordBatchLayout.LogOverhead + (long)BinaryPrimitives.ReadInt32BigEndian(buffer.AsSpan(RecordBatchLayout.BatchLength));
                if (batchSize > remaining) { problem = $"batch of {batchSize} bytes at position {valid} runs past the end of the file ({remaining} bytes remain)"; break; }
                ArrayPool<byte>.Shared.Return(buffer);
                buffer = ArrayPool<byte>.Shared.Rent((int)batchSize);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        if (valid < fileLength)
        {
            problem ??= $"the file is {fileLength} bytes, beyond 2 GiB";
            RandomAccess.SetLength(_log, valid);
        }
        Volatile.Write(ref _size, valid);
        Volatile.Write(ref _nextOffset, next);
        return (int)Math.Min(fileLength - valid, int.MaxValue);
    }

    /// <summary>Validates and tracks the whole batches at the start of <paramref name="chunk"/> (file
    /// position <paramref name="chunkPosition"/>); returns the bytes they take.</summary>
    private int ValidateChunk(ReadOnlyMemory<byte> chunk, int chunkPosition, ref long next, LeaderEpochCache? epochs,
        out string? problem, out bool truncatedTail)
    {
        problem = null;
        truncatedTail = false;
        var reader = new RecordBatchReader(chunk, allowTruncatedTail: true);
        int consumed = 0;
        try
        {
            while (reader.MoveNext())
            {
                var batch = reader.Current;
                int position = chunkPosition + consumed;
                batch.Validate();
                if (batch.BaseOffset < next)
                    throw new ProtocolDecodeException("RecordBatch.BaseOffset", $"{batch.BaseOffset} does not follow offset {next - 1}");
                if (batch.LastOffset - BaseOffset > int.MaxValue)
                    throw new ProtocolDecodeException("RecordBatch.LastOffsetDelta", $"offset {batch.LastOffset} is too far from base offset {BaseOffset}");
                var header = new BatchHeader(position, batch.SizeInBytes, batch.BaseOffset, batch.LastOffset, batch.MaxTimestamp,
                    batch.PartitionLeaderEpoch, batch.RecordCount);
                TrackBatch(header);
                if (epochs is not null && header.PartitionLeaderEpoch >= 0 && header.PartitionLeaderEpoch > epochs.LatestEpoch)
                    epochs.Assign(header.PartitionLeaderEpoch, header.BaseOffset);
                next = header.LastOffset + 1;
                consumed = reader.Position;
            }
            truncatedTail = reader.HasTruncatedTail;
        }
        catch (ProtocolDecodeException e)
        {
            problem = $"invalid batch at position {chunkPosition + consumed}: {e.Message}";
        }
        return consumed;
    }

    private void ReadFully(Span<byte> destination, long position)
    {
        int done = 0;
        while (done < destination.Length)
        {
            int read = RandomAccess.Read(_log, destination[done..], position + done);
            if (read <= 0) throw new StorageException($"{LogPath} ended at {position + done} while reading {destination.Length} bytes at {position}");
            done += read;
        }
    }
}
