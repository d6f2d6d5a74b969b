using Fjord.Protocol.Records;
using Microsoft.Win32.SafeHandles;

namespace Fjord.Storage;

/// <summary>The largest batch timestamp of a segment and the base offset of the first batch that has it.</summary>
public sealed record TimestampMark(long Timestamp, long Offset)
{
    public static readonly TimestampMark Unknown = new(RecordBatchLayout.NoTimestamp, -1);
}

/// <summary>
/// One segment of a partition log: a <c>.log</c> file of record batches exactly as on the wire, its
/// sparse <see cref="OffsetIndex"/> and its <see cref="TimeIndex"/>, named after
/// <see cref="BaseOffset"/> (<see cref="SegmentFileNames"/>).
/// </summary>
/// <remarks>
/// Invariants: the file holds whole batches back to back from position 0 to <see cref="Size"/>, with
/// base offsets ≥ <see cref="BaseOffset"/>, strictly increasing, and last offsets within int32 of
/// <see cref="BaseOffset"/>. <see cref="Size"/> and <see cref="NextOffset"/> are published (volatile)
/// only after the bytes and index entries are written, so a reader that reads them first never
/// sees half a batch.
/// Threads: one writer (the owning <see cref="PartitionLog"/>'s write lock, or the cleaner before the
/// segment is swapped in); readers (<see cref="Read"/>, <see cref="FindOffsetByTimestamp"/>) take no
/// lock. Lifecycle: <see cref="Create"/> or <see cref="Open"/> (then <see cref="LoadAndCheck"/> or
/// <see cref="Recover"/>), appends, <see cref="OnBecomeInactive"/> when rolled, and finally
/// <see cref="Dispose"/> or <see cref="DeleteFiles"/>.
/// </remarks>
public sealed partial class LogSegment : IDisposable
{
    /// <summary>Bytes read per chunk while scanning batch headers.</summary>
    private const int ScanBufferBytes = 8192;

    /// <summary>
    /// Segment <c>.log</c> files are opened for asynchronous I/O so that the network layer can send
    /// their regions with sendfile (.NET hands only asynchronous file streams to its sendfile path).
    /// On Linux this changes nothing else: the synchronous <see cref="RandomAccess"/> reads and writes
    /// used here are plain pread/pwrite either way.
    /// </summary>
    internal const FileOptions SegmentFileOptions = FileOptions.Asynchronous;

    private readonly SafeFileHandle _log;
    private int _size;
    private long _nextOffset;
    private TimestampMark _largest = TimestampMark.Unknown;
    private int _bytesSinceLastIndexEntry;
    private int _disposed;

    private LogSegment(string directory, long baseOffset, string marker, SafeFileHandle log, OffsetIndex offsetIndex,
        TimeIndex timeIndex, int indexIntervalBytes)
    {
        Directory = directory;
        BaseOffset = baseOffset;
        Marker = marker;
        _log = log;
        OffsetIndex = offsetIndex;
        TimeIndex = timeIndex;
        IndexIntervalBytes = indexIntervalBytes;
        _nextOffset = baseOffset;
        _size = (int)Math.Min(RandomAccess.GetLength(log), int.MaxValue);
    }

    public long BaseOffset { get; }
    public string Directory { get; }

    /// <summary>"" for a live segment, or <see cref="SegmentFileNames.CleanedSuffix"/>,
    /// <see cref="SegmentFileNames.SwapSuffix"/>, <see cref="SegmentFileNames.DeletedSuffix"/>.</summary>
    public string Marker { get; private set; }

    public string LogPath => SegmentFileNames.LogFile(Directory, BaseOffset, Marker);
    public OffsetIndex OffsetIndex { get; }
    public TimeIndex TimeIndex { get; }

    /// <summary>Log bytes between offset-index entries (index.interval.bytes).</summary>
    public int IndexIntervalBytes { get; set; }

    /// <summary>Published size in bytes: everything below it is whole, written batches.</summary>
    public int Size => Volatile.Read(ref _size);

    public bool IsEmpty => Size == 0;

    /// <summary>The offset after the last batch (<see cref="BaseOffset"/> when empty).</summary>
    public long NextOffset => Volatile.Read(ref _nextOffset);

    /// <summary>The largest batch maxTimestamp in the segment (-1 when there is none).</summary>
    public long LargestTimestamp => Volatile.Read(ref _largest).Timestamp;

    /// <summary>The base offset of the first batch with <see cref="LargestTimestamp"/> (-1 when none).</summary>
    public long OffsetOfLargestTimestamp => Volatile.Read(ref _largest).Offset;

    /// <summary>Wall-clock ms from which segment.ms is measured (the first append's time, or the
    /// first batch's timestamp for a segment reopened with data); -1 until known.</summary>
    public long RollBaseTimeMs { get; set; } = -1;

    /// <summary>The header of the first batch, or null when the segment is empty.</summary>
    public BatchHeader? FirstBatch()
    {
        ThrowIfDisposed();
        Span<byte> buffer = stackalloc byte[RecordBatchLayout.HeaderSize];
        var scanner = new BatchHeaderScanner(_log, 0, Size, buffer);
        return scanner.Next(LogPath, out var header) ? header : null;
    }

    /// <summary>The whole published file as one region (what the cleaner reads).</summary>
    public FileRegion WholeFile => new(_log, 0, Size);

    /// <summary>Creates a new, empty segment; fails if its <c>.log</c> file exists. Stale index files
    /// with its name are replaced.</summary>
    public static LogSegment Create(string directory, long baseOffset, int indexIntervalBytes, string marker = "")
    {
        var logPath = SegmentFileNames.LogFile(directory, baseOffset, marker);
        SafeFileHandle log;
        try
        {
            log = File.OpenHandle(logPath, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete, SegmentFileOptions);
        }
        catch (IOException e) when (File.Exists(logPath))
        {
            throw new StorageException($"cannot create segment {logPath}: the file already exists", e);
        }
        File.Delete(SegmentFileNames.OffsetIndexFile(directory, baseOffset, marker));
        File.Delete(SegmentFileNames.TimeIndexFile(directory, baseOffset, marker));
        return WithIndexes(directory, baseOffset, marker, log, indexIntervalBytes);
    }

    /// <summary>A new segment for a cleaner's output, named <c>.cleaned</c> until
    /// <see cref="PartitionLog"/> swaps it in.</summary>
    public static LogSegment CreateCleaned(string directory, long baseOffset, LogConfig config) =>
        Create(directory, baseOffset, config.IndexIntervalBytes, SegmentFileNames.CleanedSuffix);

    /// <summary>Opens an existing segment. Its offsets and indexes are not trusted until
    /// <see cref="LoadAndCheck"/> or <see cref="Recover"/> has run.</summary>
    public static LogSegment Open(string directory, long baseOffset, int indexIntervalBytes, string marker = "")
    {
        var logPath = SegmentFileNames.LogFile(directory, baseOffset, marker);
        if (!File.Exists(logPath)) throw new StorageException($"segment file {logPath} does not exist");
        var log = File.OpenHandle(logPath, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete, SegmentFileOptions);
        return WithIndexes(directory, baseOffset, marker, log, indexIntervalBytes);
    }

    private static LogSegment WithIndexes(string directory, long baseOffset, string marker, SafeFileHandle log, int indexIntervalBytes)
    {
        OffsetIndex? offsetIndex = null;
        try
        {
            offsetIndex = OffsetIndex.Open(SegmentFileNames.OffsetIndexFile(directory, baseOffset, marker), baseOffset);
            var timeIndex = TimeIndex.Open(SegmentFileNames.TimeIndexFile(directory, baseOffset, marker), baseOffset);
            return new LogSegment(directory, baseOffset, marker, log, offsetIndex, timeIndex, indexIntervalBytes);
        }
        catch
        {
            offsetIndex?.Dispose();
            log.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Appends whole, validated batches (offsets already assigned) at the end of the segment, adding
    /// index entries every <see cref="IndexIntervalBytes"/>. Offsets must continue the segment
    /// (first base offset ≥ <see cref="NextOffset"/>, strictly increasing, last offset within int32 of
    /// <see cref="BaseOffset"/>). Returns the headers of the appended batches.
    /// </summary>
    public IReadOnlyList<BatchHeader> Append(ReadOnlySpan<byte> batches)
    {
        ThrowIfDisposed();
        int position = Size;
        if ((long)position + batches.Length > int.MaxValue)
            throw new StorageException($"appending {batches.Length} bytes to {LogPath} ({position} bytes) would pass 2 GiB");
        var headers = ParseForAppend(batches, position);
        if (headers.Count == 0) return headers;
        RandomAccess.Write(_log, batches, position);
        foreach (var header in headers) TrackBatch(header);
        Volatile.Write(ref _size, position + batches.Length);
        Volatile.Write(ref _nextOffset, headers[^1].LastOffset + 1);
        return headers;
    }

    /// <summary><see cref="Append(ReadOnlySpan{byte})"/>, checking the caller's view of the batches:
    /// their first and last offsets and largest timestamp.</summary>
    public void Append(ReadOnlySpan<byte> batches, long firstOffset, long lastOffset, long maxTimestamp)
    {
        int position = Size;
        var headers = ParseForAppend(batches, position);
        if (headers.Count == 0) throw new ArgumentException("no batches to append", nameof(batches));
        long largest = headers.Max(h => h.MaxTimestamp);
        if (headers[0].BaseOffset != firstOffset || headers[^1].LastOffset != lastOffset || largest != maxTimestamp)
            throw new ArgumentException(
                $"the batches hold offsets [{headers[0].BaseOffset}, {headers[^1].LastOffset}] and max timestamp {largest}, " +
                $"not [{firstOffset}, {lastOffset}] and {maxTimestamp}");
        Append(batches);
    }

    /// <summary>The headers of <paramref name="batches"/> as they will sit in the file, checking framing and offsets.</summary>
    private List<BatchHeader> ParseForAppend(ReadOnlySpan<byte> batches, int position)
    {
        var headers = new List<BatchHeader>();
        long previousLast = NextOffset - 1;
        int at = 0;
        while (at < batches.Length)
        {
            var problem = BatchHeader.TryParse(batches[at..], position + at, out var header);
            if (problem is null && header.Size > batches.Length - at) problem = $"batch of {header.Size} bytes at {at} is cut short";
            if (problem is not null) throw new ArgumentException($"cannot append to {LogPath}: {problem}", nameof(batches));
            if (header.BaseOffset <= previousLast || header.BaseOffset < BaseOffset)
                throw new StorageException($"batch at offset {header.BaseOffset} does not follow offset {previousLast} in {LogPath}");
            if (header.LastOffset - BaseOffset > int.MaxValue)
                throw new StorageException($"offset {header.LastOffset} is too far from base offset {BaseOffset} of {LogPath}");
            headers.Add(header);
            previousLast = header.LastOffset;
            at += header.Size;
        }
        return headers;
    }

    /// <summary>Updates the largest timestamp and adds index entries for a batch now in the file.
    /// The same rule runs on append and on recovery, so a rebuilt index equals the appended one.</summary>
    private void TrackBatch(in BatchHeader header)
    {
        var largest = _largest;
        if (header.MaxTimestamp > largest.Timestamp)
            Volatile.Write(ref _largest, largest = new TimestampMark(header.MaxTimestamp, header.BaseOffset));
        if (_bytesSinceLastIndexEntry > IndexIntervalBytes)
        {
            OffsetIndex.Append(header.BaseOffset, header.Position);
            if (largest.Timestamp >= 0) TimeIndex.MaybeAppend(largest.Timestamp, largest.Offset);
            _bytesSinceLastIndexEntry = 0;
        }
        _bytesSinceLastIndexEntry += header.Size;
    }

    /// <summary>Adds the final time-index entry (the largest timestamp) when the segment stops being
    /// the active one (roll, close), so a reopen knows its largest timestamp without a scan.</summary>
    public void OnBecomeInactive()
    {
        var largest = _largest;
        if (largest.Timestamp >= 0) TimeIndex.MaybeAppend(largest.Timestamp, largest.Offset);
    }

    /// <summary>fsyncs the log and both indexes (writing their pending entries first). Writer only.</summary>
    public void Flush()
    {
        ThrowIfDisposed();
        RandomAccess.FlushToDisk(_log);
        OffsetIndex.Flush();
        TimeIndex.Flush();
    }

    /// <summary>Writes both indexes' pending entries to their files, without an fsync. Writer only.</summary>
    internal void WritePendingIndexEntries()
    {
        ThrowIfDisposed();
        OffsetIndex.WritePending();
        TimeIndex.WritePending();
    }

    /// <summary>
    /// fsyncs the log and both index files as they are, writing nothing: the one flush that may run
    /// outside the owning log's write lock (a roll's background flush), since it changes no file
    /// and no state a concurrent truncation or append could race. Index entries still pending are
    /// not made durable: the caller writes them under the lock first
    /// (<see cref="WritePendingIndexEntries"/>). Throws <see cref="ObjectDisposedException"/> once
    /// the segment is closed.
    /// </summary>
    internal void SyncToDisk()
    {
        ThrowIfDisposed();
        RandomAccess.FlushToDisk(_log);
        OffsetIndex.SyncToDisk();
        TimeIndex.SyncToDisk();
    }

    /// <summary>Renames the segment's three files to carry <paramref name="marker"/> instead of the
    /// current one (files stay open). The caller fsyncs the directory.</summary>
    public void ChangeMarker(string marker)
    {
        if (marker == Marker) return;
        // A .deleted name may still be held by an older segment awaiting deletion; its open handle survives.
        File.Move(LogPath, SegmentFileNames.LogFile(Directory, BaseOffset, marker), overwrite: marker == SegmentFileNames.DeletedSuffix);
        OffsetIndex.MoveTo(SegmentFileNames.OffsetIndexFile(Directory, BaseOffset, marker));
        TimeIndex.MoveTo(SegmentFileNames.TimeIndexFile(Directory, BaseOffset, marker));
        Marker = marker;
    }

    /// <summary>Closes the files and deletes them.</summary>
    public void DeleteFiles()
    {
        Dispose();
        File.Delete(LogPath);
        File.Delete(OffsetIndex.Path);
        File.Delete(TimeIndex.Path);
    }

    public bool IsDisposed => Volatile.Read(ref _disposed) != 0;

    /// <summary>Closes the files (same as <see cref="Dispose"/>); the owner flushes first if it must.</summary>
    public void Close() => Dispose();

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        OffsetIndex.Dispose();
        TimeIndex.Dispose();
        _log.Dispose();
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(IsDisposed, this);

    public override string ToString() => $"LogSegment({LogPath}, size={Size}, offsets=[{BaseOffset}, {NextOffset}))";
}
