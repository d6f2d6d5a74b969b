using Fjord.Common;

namespace Fjord.Storage;

/// <summary>What an append did. Offsets are inclusive; <see cref="LogAppendTime"/> is -1 under CreateTime.</summary>
/// <param name="OffsetOfMaxTimestamp">Base offset of the first batch carrying <see cref="MaxTimestamp"/> (-1 when none).</param>
public readonly record struct AppendResult(
    long FirstOffset,
    long LastOffset,
    long LogAppendTime,
    long MaxTimestamp,
    long OffsetOfMaxTimestamp,
    int BatchCount,
    int RecordCount,
    int SizeInBytes,
    long LogStartOffset);

/// <summary>
/// Whole batches read from a partition log, as file regions (one per segment touched) in offset
/// order. <see cref="FirstBatchOffset"/> is the base offset of the first batch, or -1 when nothing was
/// read. The log start and end offsets are those the read saw.
/// </summary>
public sealed class LogReadResult(IReadOnlyList<FileRegion> regions, long firstBatchOffset, long logStartOffset, long logEndOffset)
{
    public IReadOnlyList<FileRegion> Regions { get; } = regions;
    public long FirstBatchOffset { get; } = firstBatchOffset;
    public long LogStartOffset { get; } = logStartOffset;
    public long LogEndOffset { get; } = logEndOffset;
    public int TotalBytes { get; } = regions.Sum(r => r.Length);
    public bool IsEmpty => TotalBytes == 0;

    /// <summary>Copies every region, in order, into <paramref name="destination"/> (at least <see cref="TotalBytes"/> long).</summary>
    public void CopyTo(Span<byte> destination)
    {
        int at = 0;
        foreach (var region in Regions)
        {
            region.CopyTo(destination[at..]);
            at += region.Length;
        }
    }

    public byte[] ToArray()
    {
        var bytes = new byte[TotalBytes];
        CopyTo(bytes);
        return bytes;
    }
}

/// <summary>A read asked for an offset outside [log start offset, log end offset] (Kafka's OFFSET_OUT_OF_RANGE).</summary>
public sealed class OffsetOutOfRangeException(long offset, long logStartOffset, long logEndOffset)
    : Exception($"offset {offset} is outside the log's range [{logStartOffset}, {logEndOffset}]")
{
    public long Offset { get; } = offset;
    public long LogStartOffset { get; } = logStartOffset;
    public long LogEndOffset { get; } = logEndOffset;
    public ErrorCode Error => ErrorCode.OffsetOutOfRange;
}

/// <summary>An append was refused because of its content; <see cref="Error"/> is the Kafka error to return
/// (CORRUPT_MESSAGE, MESSAGE_TOO_LARGE, RECORD_LIST_TOO_LARGE, INVALID_RECORD).</summary>
public sealed class LogAppendException(ErrorCode error, string message, Exception? inner = null) : Exception(message, inner)
{
    public ErrorCode Error { get; } = error;
}

/// <summary>How <see cref="PartitionLog.Open"/> finds the log.</summary>
/// <param name="RecoveryPoint">Offset below which the log was flushed (from recovery-point-offset-checkpoint).</param>
/// <param name="LogStartOffset">From log-start-offset-checkpoint; null when unknown (the first segment's base offset is used).</param>
/// <param name="HadCleanShutdown">The clean-shutdown marker was present: skip the recovery scan.</param>
/// <param name="Log">Receives one line per notable event (truncation, rebuilt index, leftover file).</param>
public sealed record LogOpenOptions(long RecoveryPoint = 0, long? LogStartOffset = null, bool HadCleanShutdown = false, Action<string>? Log = null);
