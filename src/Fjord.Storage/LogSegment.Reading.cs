using Fjord.Protocol.Records;

namespace Fjord.Storage;

public sealed partial class LogSegment
{
    /// <summary>Decompression limit when a batch must be opened to find one record's offset.</summary>
    private const int MaxDecompressedBatchBytes = 128 * 1024 * 1024;

    /// <summary>
    /// Whole batches starting with the first one whose last offset is ≥ <paramref name="startOffset"/>,
    /// taking batches while their last offset is below <paramref name="maxOffsetExclusive"/> and the total
    /// stays within <paramref name="maxBytes"/> (a first batch larger than that is still returned when
    /// <paramref name="includeOversizedFirstBatch"/>). Null when no batch in the segment reaches
    /// <paramref name="startOffset"/>. Lock-free: works on the published size.
    /// </summary>
    public SegmentSlice? Read(long startOffset, int maxBytes, long maxOffsetExclusive, bool includeOversizedFirstBatch)
    {
        ThrowIfDisposed();
        int size = Size;
        int start = OffsetIndex.Lookup(startOffset, size).Position;
        Span<byte> buffer = stackalloc byte[ScanBufferBytes];
        var scanner = new BatchHeaderScanner(_log, start, size, buffer);
        BatchHeader first;
        do
        {
            if (!scanner.Next(LogPath, out first)) return null;
        } while (first.LastOffset < startOffset);

        if (first.LastOffset >= maxOffsetExclusive || (first.Size > maxBytes && !includeOversizedFirstBatch))
            return new SegmentSlice(new FileRegion(_log, first.Position, 0), first.BaseOffset, -1, false);

        long total = first.Size;
        long last = first.LastOffset;
        bool reachedEnd;
        while (true)
        {
            if (!scanner.Next(LogPath, out var next)) { reachedEnd = true; break; }
            if (next.LastOffset >= maxOffsetExclusive || total + next.Size > maxBytes) { reachedEnd = false; break; }
            total += next.Size;
            last = next.LastOffset;
        }
        return new SegmentSlice(new FileRegion(_log, first.Position, (int)total), first.BaseOffset, last, reachedEnd);
    }

    /// <summary>
    /// The first record at or after <paramref name="startingOffset"/> whose timestamp is ≥
    /// <paramref name="timestampMs"/>, as (offset, timestamp): the time index narrows the scan, batch
    /// headers (maxTimestamp) find the batch, and the batch is opened to find the record. Null when the
    /// segment has no such record.
    /// </summary>
    public (long Offset, long Timestamp)? FindOffsetByTimestamp(long timestampMs, long startingOffset)
    {
        ThrowIfDisposed();
        if (LargestTimestamp < timestampMs) return null;
        int size = Size;
        long scanFrom = Math.Max(TimeIndex.Lookup(timestampMs)?.Offset ?? BaseOffset, startingOffset);
        int start = OffsetIndex.Lookup(scanFrom, size).Position;
        Span<byte> buffer = stackalloc byte[ScanBufferBytes];
        var scanner = new BatchHeaderScanner(_log, start, size, buffer);
        while (scanner.Next(LogPath, out var header))
        {
            if (header.LastOffset < startingOffset || header.MaxTimestamp < timestampMs) continue;
            var found = FindRecord(header, startingOffset, timestampMs);
            if (found is not null) return found;
        }
        return null;
    }

    /// <summary>Opens the batch and returns its first record with offset ≥ <paramref name="startingOffset"/>
    /// and timestamp ≥ <paramref name="timestampMs"/>.</summary>
    private (long Offset, long Timestamp)? FindRecord(BatchHeader header, long startingOffset, long timestampMs)
    {
        var bytes = new FileRegion(_log, header.Position, header.Size).ToArray();
        var batch = new RecordBatch(bytes);
        using var records = batch.OpenRecords(MaxDecompressedBatchBytes);
        foreach (var record in records)
        {
            if (record.Offset >= startingOffset && record.Timestamp >= timestampMs) return (record.Offset, record.Timestamp);
        }
        return null;
    }

    /// <summary>
    /// Removes every batch holding an offset ≥ <paramref name="offset"/> (a batch that straddles it goes
    /// whole) and the index entries that point at them; returns the bytes removed. Afterwards
    /// <see cref="NextOffset"/> is the end of the last batch kept (<see cref="BaseOffset"/> when none
    /// is), as a reopen would compute it. Writer only.
    /// </summary>
    public int TruncateTo(long offset)
    {
        ThrowIfDisposed();
        if (offset >= NextOffset) return 0;
        int size = Size;
        int start = OffsetIndex.Lookup(offset, size).Position;
        Span<byte> buffer = stackalloc byte[ScanBufferBytes];
        var scanner = new BatchHeaderScanner(_log, start, size, buffer);
        BatchHeader cut = default;
        bool found = false;
        while (scanner.Next(LogPath, out var header))
        {
            if (header.LastOffset >= offset) { cut = header; found = true; break; }
        }
        if (!found) return 0;
        Volatile.Write(ref _size, cut.Position);
        RandomAccess.SetLength(_log, cut.Position);
        OffsetIndex.TruncateTo(cut.BaseOffset);
        TimeIndex.TruncateTo(cut.BaseOffset);
        var problem = LoadTail();
        if (problem is not null) throw new StorageException($"corrupt segment {LogPath} after truncation: {problem}");
        return size - cut.Position;
    }

    /// <summary>
    /// Sanity-checks a segment opened after a clean shutdown: both index files exist (unless the log is
    /// empty) and are consistent, and the batches after the last offset-index entry are well framed.
    /// Sets <see cref="NextOffset"/> and <see cref="LargestTimestamp"/>. Returns the problem found (the
    /// caller then runs <see cref="Recover"/>), or null.
    /// </summary>
    public string? LoadAndCheck()
    {
        ThrowIfDisposed();
        long fileLength = RandomAccess.GetLength(_log);
        if (fileLength > int.MaxValue) return $"{LogPath} is {fileLength} bytes, beyond 2 GiB";
        int size = (int)fileLength;
        Volatile.Write(ref _size, size);
        if (size > 0 && OffsetIndex.WasMissing) return $"{OffsetIndex.Path} is missing";
        if (size > 0 && TimeIndex.WasMissing) return $"{TimeIndex.Path} is missing";
        var problem = OffsetIndex.FindInconsistency(size) ?? LoadTail();
        if (problem is not null) return problem;
        return TimeIndex.FindInconsistency(NextOffset);
    }

    /// <summary>
    /// Reads the batches after the last offset-index entry to set <see cref="NextOffset"/>, the largest
    /// timestamp (together with the time index's last entry) and the bytes since the last index entry.
    /// Returns a framing problem, or null.
    /// </summary>
    private string? LoadTail()
    {
        int size = Size;
        var (indexedOffset, indexedPosition) = OffsetIndex.LastEntry;
        var largest = TimeIndex.LastEntry is { } last ? new TimestampMark(last.Timestamp, last.Offset) : TimestampMark.Unknown;
        Span<byte> buffer = stackalloc byte[ScanBufferBytes];
        var scanner = new BatchHeaderScanner(_log, indexedPosition, size, buffer);
        long next = BaseOffset;
        bool firstBatch = true;
        while (scanner.TryNext(out var header, out var problem))
        {
            if (firstBatch && OffsetIndex.Count > 0 && header.BaseOffset != indexedOffset)
                return $"{OffsetIndex.Path} maps offset {indexedOffset} to position {indexedPosition}, where batch {header.BaseOffset} starts";
            if (header.BaseOffset < next)
                return $"batch {header.BaseOffset} at position {header.Position} of {LogPath} does not follow offset {next - 1}";
            if (header.MaxTimestamp > largest.Timestamp) largest = new TimestampMark(header.MaxTimestamp, header.BaseOffset);
            next = header.LastOffset + 1;
            firstBatch = false;
        }
        if (scanner.Position != size)
        {
            scanner.TryNext(out _, out var problem);
            return $"{LogPath}: {problem}";
        }
        Volatile.Write(ref _largest, largest);
        Volatile.Write(ref _nextOffset, next);
        _bytesSinceLastIndexEntry = size - indexedPosition;
        return null;
    }
}
