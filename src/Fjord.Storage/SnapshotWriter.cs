using Fjord.Common;
using Fjord.Protocol;
using Fjord.Protocol.Compression;
using Fjord.Protocol.Messages;
using Fjord.Protocol.Records;

namespace Fjord.Storage;

/// <summary>
/// Writes one Raft snapshot (KIP-630) into a partition directory as Kafka lays it out: a control
/// batch opening with SNAPSHOT_HEADER, data batches, and a control batch with SNAPSHOT_FOOTER.
/// Offsets inside the snapshot start at 0 and are contiguous; every batch carries the snapshot's
/// epoch as its partition leader epoch.
/// </summary>
/// <remarks>
/// Lifecycle: <see cref="Create"/> (or <see cref="CreateRaw"/> for bytes fetched from a leader) →
/// appends → <see cref="Freeze"/>, which fsyncs <c>&lt;name&gt;.checkpoint.part</c>, renames it to
/// <c>&lt;name&gt;.checkpoint</c> and fsyncs the directory; a reader therefore sees a complete
/// snapshot or none. <see cref="Dispose"/> without <see cref="Freeze"/> deletes the partial file.
/// Not thread-safe: one owner drives it. At most one writer per snapshot id in a process.
/// </remarks>
public sealed class SnapshotWriter : IDisposable
{
    private readonly string _directory;
    private readonly string _partialPath;
    private readonly IClock? _clock;
    private readonly CompressionType _compression;
    private readonly bool _raw;
    private FileStream? _file;
    private long _nextOffset;
    private bool _frozen, _closed;
    private bool _ownsPartial; // set once this writer registered the .part file as its own

    private SnapshotWriter(string directory, SnapshotId id, IClock? clock, CompressionType compression, bool raw)
    {
        id.EnsureValid();
        _directory = directory;
        Id = id;
        _clock = clock;
        _compression = compression;
        _raw = raw;
        Path = SnapshotFiles.PathOf(directory, id);
        _partialPath = SnapshotFiles.PartialPathOf(directory, id);
    }

    public SnapshotId Id { get; }

    /// <summary>The final path, which exists only after <see cref="Freeze"/>.</summary>
    public string Path { get; }

    /// <summary>Bytes written so far.</summary>
    public long SizeInBytes => _file?.Position ?? 0;

    /// <summary>The offset (within the snapshot) the next appended record gets.</summary>
    public long NextOffset => _nextOffset;

    public bool IsFrozen => _frozen;

    /// <summary>
    /// Starts a snapshot and writes its header batch: SNAPSHOT_HEADER (with
    /// <paramref name="lastContainedLogTimestampMs"/>) followed by <paramref name="headerControlRecords"/>
    /// (KRAFT_VERSION, KRAFT_VOTERS values as their callers encode them). Batch timestamps come
    /// from <paramref name="clock"/>. Throws <see cref="StorageException"/> if the snapshot exists.
    /// </summary>
    public static SnapshotWriter Create(string directory, SnapshotId id, long lastContainedLogTimestampMs, IClock clock,
        CompressionType compression = CompressionType.None,
        IReadOnlyList<(ControlRecordType Type, byte[] Value)>? headerControlRecords = null)
    {
        var writer = new SnapshotWriter(directory, id, clock, compression, raw: false);
        try
        {
            writer.OpenPartial();
            var header = new SnapshotHeaderRecord { Version = 0, LastContainedLogTimestamp = lastContainedLogTimestampMs };
            var control = new List<(ControlRecordType, byte[])> { (ControlRecordType.SnapshotHeader, header.Serialize(0)) };
            if (headerControlRecords is not null) control.AddRange(headerControlRecords);
            writer.WriteControlBatch(control);
            return writer;
        }
        catch
        {
            writer.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Starts a snapshot whose bytes arrive whole from elsewhere (FetchSnapshot): append them with
    /// <see cref="AppendRaw"/>; <see cref="Freeze"/> then checks the file like
    /// <see cref="SnapshotReader"/> does before making it visible.
    /// </summary>
    public static SnapshotWriter CreateRaw(string directory, SnapshotId id)
    {
        var writer = new SnapshotWriter(directory, id, clock: null, CompressionType.None, raw: true);
        try
        {
            writer.OpenPartial();
            return writer;
        }
        catch
        {
            writer.Dispose();
            throw;
        }
    }

    /// <summary>Appends one data batch holding <paramref name="values"/> as records with null keys
    /// (how KRaft stores metadata records), at the next offsets.</summary>
    public void Append(IReadOnlyList<ReadOnlyMemory<byte>> values)
    {
        EnsureWritable(raw: false);
        if (values.Count == 0) throw new ArgumentException("a snapshot batch needs at least one record", nameof(values));
        using var builder = NewBuilder(isControl: false);
        long now = _clock!.UnixTimeMs;
        foreach (var value in values) builder.Append(now, key: null, value: value);
        WriteBatch(builder);
    }

    /// <summary>Appends bytes of a snapshot fetched from elsewhere, in order (raw writers only).</summary>
    public void AppendRaw(ReadOnlySpan<byte> bytes)
    {
        EnsureWritable(raw: true);
        Write(bytes);
    }

    /// <summary>Completes the snapshot (footer, fsync, rename, directory fsync) and returns its size.</summary>
    public long Freeze()
    {
        EnsureWritable(_raw);
        if (!_raw)
        {
            var footer = new SnapshotFooterRecord { Version = 0 };
            WriteControlBatch([(ControlRecordType.SnapshotFooter, footer.Serialize(0))]);
        }
        var file = _file!;
        long size = file.Length;
        try
        {
            file.Flush(flushToDisk: true);
            file.Dispose();
            _file = null;
            if (_raw) SnapshotReader.OpenFile(_partialPath, Id); // throws, naming the file, if it is not a whole snapshot
            if (File.Exists(Path)) throw new StorageException($"snapshot {Path} already exists");
            File.Move(_partialPath, Path, overwrite: false);
            AtomicFile.FsyncDirectory(_directory);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new StorageException($"cannot freeze snapshot {Path}: {e.Message}", e);
        }
        _frozen = true;
        SnapshotFiles.UnmarkInProgress(_partialPath);
        return size;
    }

    /// <summary>Closes the writer; an unfrozen snapshot's partial file is deleted.</summary>
    public void Dispose()
    {
        if (_closed) return;
        _closed = true;
        if (_frozen) return;
        _file?.Dispose();
        _file = null;
        if (!_ownsPartial) return;
        try
        {
            File.Delete(_partialPath);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // The next SnapshotFiles.List removes it.
        }
        SnapshotFiles.UnmarkInProgress(_partialPath);
    }

    private void OpenPartial()
    {
        try
        {
            Directory.CreateDirectory(_directory);
            if (File.Exists(Path)) throw new StorageException($"snapshot {Path} already exists");
            SnapshotFiles.MarkInProgress(_partialPath);
            _ownsPartial = true;
            _file = new FileStream(_partialPath, FileMode.Create, FileAccess.Write, FileShare.Read, bufferSize: 64 * 1024);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new StorageException($"cannot create snapshot {_partialPath}: {e.Message}", e);
        }
    }

    private void WriteControlBatch(IReadOnlyList<(ControlRecordType Type, byte[] Value)> records)
    {
        using var builder = NewBuilder(isControl: true);
        long now = _clock!.UnixTimeMs;
        foreach (var (type, value) in records) builder.Append(now, new ControlRecordKey(type).ToArray(), value);
        WriteBatch(builder);
    }

    private RecordBatchBuilder NewBuilder(bool isControl) => new(new RecordBatchOptions
    {
        BaseOffset = _nextOffset,
        PartitionLeaderEpoch = Id.Epoch,
        IsControl = isControl,
        Compression = _compression,
    });

    private void WriteBatch(RecordBatchBuilder builder)
    {
        long next = builder.NextOffset;
        Write(builder.ToArray());
        _nextOffset = next;
    }

    private void Write(ReadOnlySpan<byte> bytes)
    {
        try
        {
            _file!.Write(bytes);
        }
        catch (IOException e)
        {
            throw new StorageException($"cannot write snapshot {_partialPath}: {e.Message}", e);
        }
    }

    private void EnsureWritable(bool raw)
    {
        if (_frozen || _closed || _file is null) throw new InvalidOperationException($"snapshot {Path} is frozen or closed");
        if (raw != _raw) throw new InvalidOperationException(_raw ? "a raw snapshot writer only takes AppendRaw" : "AppendRaw needs a writer from CreateRaw");
    }
}
