using Microsoft.Win32.SafeHandles;

namespace Fjord.Storage;

/// <summary>A fixed-size index entry that reads and writes itself big-endian.</summary>
public interface IIndexEntry<TSelf> where TSelf : struct, IIndexEntry<TSelf>
{
    static abstract int Size { get; }
    static abstract TSelf Read(ReadOnlySpan<byte> source);
    void Write(Span<byte> destination);
}

/// <summary>
/// The entries of one index file, kept in memory; new entries reach the file in one write at the
/// next <see cref="Flush"/>, truncation or close (not one small write per entry, which cost the
/// append path a system call per batch).
/// </summary>
/// <remarks>
/// Threads: one writer (the partition's write lock), any number of lock-free readers, and
/// <see cref="SyncToDisk"/> from any thread. Only the writer writes or resizes the file: a second
/// thread writing pending entries (the background roll flush once did) races a truncation — it
/// reads the entries and the persisted count, the writer cuts both, and it then writes entries of
/// truncated batches back into the file and raises the persisted count over them, so the file keeps
/// stale entries that a later clean open trusts. Readers see
/// an immutable <see cref="Snapshot"/> (array + count): the writer only writes array slots at or
/// past every published count, and truncation or a rebuild copies into a fresh array, so a
/// published snapshot never changes under a reader.
/// The file always holds a prefix of the entries (<c>persisted × Size</c> bytes); a crash can lose
/// the unwritten tail, which leaves a shorter but still valid sparse index (lookups scan a little
/// further), and segments past the recovery point have their indexes rebuilt anyway.
/// </remarks>
internal sealed class IndexStore<T> : IDisposable where T : struct, IIndexEntry<T>
{
    internal sealed class Snapshot(T[] items, int count)
    {
        public readonly T[] Items = items;
        public readonly int Count = count;
        public ReadOnlySpan<T> Entries => Items.AsSpan(0, Count);
    }

    private Snapshot _snapshot;
    private readonly SafeFileHandle _file;
    private int _persisted;
    private bool _disposed;
    // The file changed (written, resized, or just opened) since its last fsync. A segment flush
    // fsyncs its two indexes every time; skipping the fsync of an unchanged index saves two of a
    // small append's three fsyncs (an index gains an entry only every index.interval.bytes).
    private bool _unsynced = true;

    private IndexStore(string path, SafeFileHandle file, Snapshot snapshot, bool wasMissing, bool hasPartialEntry)
    {
        Path = path;
        _file = file;
        _snapshot = snapshot;
        _persisted = snapshot.Count;
        WasMissing = wasMissing;
        HasPartialEntry = hasPartialEntry;
    }

    public string Path { get; private set; }

    /// <summary>The file did not exist when opened (it was created empty).</summary>
    public bool WasMissing { get; private set; }

    /// <summary>The file's length was not a multiple of the entry size (a torn write).</summary>
    public bool HasPartialEntry { get; private set; }

    public Snapshot Current => Volatile.Read(ref _snapshot);
    public int Count => Current.Count;

    /// <summary>Opens (creating when missing) and loads every whole entry of <paramref name="path"/>.</summary>
    public static IndexStore<T> Open(string path)
    {
        bool existed = File.Exists(path);
        var file = File.OpenHandle(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete);
        try
        {
            long length = RandomAccess.GetLength(file);
            if (length > int.MaxValue) throw new StorageException($"index file {path} is {length} bytes, beyond any valid index");
            var bytes = new byte[length];
            int done = 0;
            while (done < bytes.Length)
            {
                int read = RandomAccess.Read(file, bytes.AsSpan(done), done);
                if (read <= 0) break;
                done += read;
            }
            int count = done / T.Size;
            var items = new T[Math.Max(count, 16)];
            for (int i = 0; i < count; i++) items[i] = T.Read(bytes.AsSpan(i * T.Size, T.Size));
            return new IndexStore<T>(path, file, new Snapshot(items, count), !existed, done % T.Size != 0);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>Adds an entry at the end (in memory; the file catches up at the next flush).</summary>
    public void Append(T entry)
    {
        var current = _snapshot;
        var items = current.Items;
        if (current.Count == items.Length)
        {
            items = new T[items.Length * 2];
            current.Entries.CopyTo(items);
        }
        items[current.Count] = entry;
        Volatile.Write(ref _snapshot, new Snapshot(items, current.Count + 1));
    }

    /// <summary>Writes the entries added since the last write, in one write (no fsync). Writer only.</summary>
    public void WritePending()
    {
        var current = _snapshot;
        int pending = current.Count - _persisted;
        if (pending <= 0) return;
        var bytes = new byte[pending * T.Size];
        var entries = current.Entries[_persisted..];
        for (int i = 0; i < entries.Length; i++) entries[i].Write(bytes.AsSpan(i * T.Size, T.Size));
        RandomAccess.Write(_file, bytes, (long)_persisted * T.Size);
        _persisted = current.Count;
        _unsynced = true;
    }

    /// <summary>Keeps the first <paramref name="count"/> entries.</summary>
    public void TruncateToCount(int count)
    {
        var current = _snapshot;
        if (count >= current.Count && !HasPartialEntry) return;
        count = Math.Min(count, current.Count);
        var items = new T[Math.Max(count, 16)];
        current.Entries[..count].CopyTo(items);
        _persisted = Math.Min(_persisted, count);
        RandomAccess.SetLength(_file, (long)_persisted * T.Size);
        _unsynced = true;
        HasPartialEntry = false;
        Volatile.Write(ref _snapshot, new Snapshot(items, count));
    }

    /// <summary>Replaces every entry (index rebuild). Not atomic on disk: a crash leaves a prefix,
    /// which is still a valid sparse index, or a torn tail, which the next open rebuilds.</summary>
    public void Replace(ReadOnlySpan<T> entries)
    {
        var bytes = new byte[entries.Length * T.Size];
        for (int i = 0; i < entries.Length; i++) entries[i].Write(bytes.AsSpan(i * T.Size, T.Size));
        RandomAccess.SetLength(_file, 0);
        RandomAccess.Write(_file, bytes, 0);
        _unsynced = true;
        var items = new T[Math.Max(entries.Length, 16)];
        entries.CopyTo(items);
        _persisted = entries.Length;
        HasPartialEntry = false;
        WasMissing = false;
        Volatile.Write(ref _snapshot, new Snapshot(items, entries.Length));
    }

    /// <summary>Writes pending entries and fsyncs the file, unless nothing changed since its last fsync.</summary>
    public void Flush()
    {
        WritePending();
        if (!_unsynced) return;
        RandomAccess.FlushToDisk(_file);
        _unsynced = false;
    }

    /// <summary>
    /// fsyncs the file as it is, writing nothing (pending entries stay pending). The one method safe
    /// outside the writer: it touches no state, so it cannot race a truncation. Throws
    /// <see cref="ObjectDisposedException"/> once the store is closed.
    /// </summary>
    public void SyncToDisk() => RandomAccess.FlushToDisk(_file);

    /// <summary>Renames the file (it stays open; on Unix an open handle survives a rename).</summary>
    public void MoveTo(string newPath)
    {
        File.Move(Path, newPath, overwrite: true);
        Path = newPath;
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        try { WritePending(); }
        finally { _file.Dispose(); }
    }
}
