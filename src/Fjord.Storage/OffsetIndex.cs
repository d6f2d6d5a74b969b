using System.Buffers.Binary;

namespace Fjord.Storage;

/// <summary>One offset-index entry: a batch's base offset relative to the segment's, and its byte position.</summary>
public readonly record struct OffsetIndexEntry(int RelativeOffset, int Position) : IIndexEntry<OffsetIndexEntry>
{
    public static int Size => 8;
    public static OffsetIndexEntry Read(ReadOnlySpan<byte> source) =>
        new(BinaryPrimitives.ReadInt32BigEndian(source), BinaryPrimitives.ReadInt32BigEndian(source[4..]));
    public void Write(Span<byte> destination)
    {
        BinaryPrimitives.WriteInt32BigEndian(destination, RelativeOffset);
        BinaryPrimitives.WriteInt32BigEndian(destination[4..], Position);
    }
}

/// <summary>
/// The sparse offset index of one segment (<c>.index</c>): about one entry per
/// <c>index.interval.bytes</c> of log, each mapping a batch's base offset (stored relative to the
/// segment's base offset, int32) to the batch's byte position (int32). 8 bytes an entry, big-endian.
/// </summary>
/// <remarks>
/// Invariants: offsets and positions strictly increase; every position is the start of a batch in
/// the segment. <see cref="Lookup"/> answers "where to start scanning for an offset": the largest
/// entry whose offset is at or below the target. Threads: see <see cref="IndexStore{T}"/>.
/// </remarks>
public sealed class OffsetIndex : IDisposable
{
    private readonly IndexStore<OffsetIndexEntry> _store;

    private OffsetIndex(IndexStore<OffsetIndexEntry> store, long baseOffset)
    {
        _store = store;
        BaseOffset = baseOffset;
    }

    public long BaseOffset { get; }
    public string Path => _store.Path;
    public int Count => _store.Count;
    public bool WasMissing => _store.WasMissing;

    /// <summary>Opens or creates the index file and loads its entries (check them with <see cref="FindInconsistency"/>).</summary>
    public static OffsetIndex Open(string path, long baseOffset) => new(IndexStore<OffsetIndexEntry>.Open(path), baseOffset);

    /// <summary>The entries as absolute (offset, position) pairs, oldest first.</summary>
    public IReadOnlyList<(long Offset, int Position)> Entries
    {
        get
        {
            var entries = _store.Current.Entries;
            var result = new (long, int)[entries.Length];
            for (int i = 0; i < entries.Length; i++) result[i] = (BaseOffset + entries[i].RelativeOffset, entries[i].Position);
            return result;
        }
    }

    /// <summary>The last entry, or (baseOffset, 0) when there is none.</summary>
    public (long Offset, int Position) LastEntry
    {
        get
        {
            var entries = _store.Current.Entries;
            return entries.IsEmpty ? (BaseOffset, 0) : (BaseOffset + entries[^1].RelativeOffset, entries[^1].Position);
        }
    }

    /// <summary>
    /// The largest entry with offset ≤ <paramref name="targetOffset"/> and position below
    /// <paramref name="positionLimit"/> (a reader passes the segment size it saw), or
    /// (baseOffset, 0) when there is none.
    /// </summary>
    public (long Offset, int Position) Lookup(long targetOffset, int positionLimit = int.MaxValue)
    {
        var entries = _store.Current.Entries;
        long relative = targetOffset - BaseOffset;
        if (relative < 0 || entries.IsEmpty) return (BaseOffset, 0);
        int target = relative > int.MaxValue ? int.MaxValue : (int)relative;
        int low = 0, high = entries.Length - 1, found = -1;
        while (low <= high)
        {
            int mid = (low + high) >>> 1;
            if (entries[mid].RelativeOffset <= target) { found = mid; low = mid + 1; }
            else high = mid - 1;
        }
        while (found >= 0 && entries[found].Position >= positionLimit) found--;
        return found < 0 ? (BaseOffset, 0) : (BaseOffset + entries[found].RelativeOffset, entries[found].Position);
    }

    /// <summary>Adds an entry; it must lie past the last one in both offset and position.</summary>
    public void Append(long offset, int position)
    {
        long relative = offset - BaseOffset;
        if (relative < 0 || relative > int.MaxValue)
            throw new InvalidOperationException($"offset {offset} does not fit index {Path} with base offset {BaseOffset}");
        var entries = _store.Current.Entries;
        if (!entries.IsEmpty && (entries[^1].RelativeOffset >= relative || entries[^1].Position >= position))
            throw new InvalidOperationException(
                $"index entry ({offset}, {position}) does not follow the last entry ({BaseOffset + entries[^1].RelativeOffset}, {entries[^1].Position}) of {Path}");
        _store.Append(new OffsetIndexEntry((int)relative, position));
    }

    /// <summary>Removes every entry whose offset is ≥ <paramref name="offset"/>.</summary>
    public void TruncateTo(long offset)
    {
        var entries = _store.Current.Entries;
        int keep = entries.Length;
        while (keep > 0 && BaseOffset + entries[keep - 1].RelativeOffset >= offset) keep--;
        _store.TruncateToCount(keep);
    }

    /// <summary>Replaces every entry with <paramref name="entries"/> (absolute offsets), after a rebuild.</summary>
    public void Replace(IReadOnlyList<(long Offset, int Position)> entries)
    {
        var converted = new OffsetIndexEntry[entries.Count];
        for (int i = 0; i < converted.Length; i++)
            converted[i] = new OffsetIndexEntry(checked((int)(entries[i].Offset - BaseOffset)), entries[i].Position);
        _store.Replace(converted);
    }

    /// <summary>Why the index cannot be trusted for a segment of <paramref name="segmentSize"/> bytes, or null.</summary>
    public string? FindInconsistency(int segmentSize)
    {
        if (_store.HasPartialEntry) return $"{Path} ends with a partial entry";
        var entries = _store.Current.Entries;
        for (int i = 0; i < entries.Length; i++)
        {
            var e = entries[i];
            if (e.RelativeOffset < 0) return $"{Path} entry {i} has negative relative offset {e.RelativeOffset}";
            if (e.Position < 0 || e.Position >= segmentSize) return $"{Path} entry {i} points at position {e.Position}, outside the {segmentSize}-byte segment";
            if (i > 0 && (e.RelativeOffset <= entries[i - 1].RelativeOffset || e.Position <= entries[i - 1].Position))
                return $"{Path} entry {i} ({e.RelativeOffset}, {e.Position}) does not follow entry {i - 1} ({entries[i - 1].RelativeOffset}, {entries[i - 1].Position})";
        }
        return null;
    }

    public void Flush() => _store.Flush();

    /// <summary>Writes the pending entries to the file without an fsync. Writer only.</summary>
    internal void WritePending() => _store.WritePending();

    /// <summary>fsyncs the file as it is, writing nothing; safe outside the writer (see <see cref="IndexStore{T}"/>).</summary>
    internal void SyncToDisk() => _store.SyncToDisk();
    internal void MoveTo(string newPath) => _store.MoveTo(newPath);
    public void Dispose() => _store.Dispose();
}
