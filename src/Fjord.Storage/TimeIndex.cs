using System.Buffers.Binary;

namespace Fjord.Storage;

/// <summary>One time-index entry: a timestamp, and the offset (relative to the segment's base) of the
/// batch that first reached it.</summary>
public readonly record struct TimeIndexEntry(long Timestamp, int RelativeOffset) : IIndexEntry<TimeIndexEntry>
{
    public static int Size => 12;
    public static TimeIndexEntry Read(ReadOnlySpan<byte> source) =>
        new(BinaryPrimitives.ReadInt64BigEndian(source), BinaryPrimitives.ReadInt32BigEndian(source[8..]));
    public void Write(Span<byte> destination)
    {
        BinaryPrimitives.WriteInt64BigEndian(destination, Timestamp);
        BinaryPrimitives.WriteInt32BigEndian(destination[8..], RelativeOffset);
    }
}

/// <summary>
/// The time index of one segment (<c>.timeindex</c>): entries (int64 timestamp, int32 relative
/// offset), 12 bytes each, big-endian, added alongside offset-index entries and only when the
/// segment's largest timestamp has grown, plus a final entry when the segment is closed or rolled.
/// </summary>
/// <remarks>
/// Invariants: timestamps and offsets strictly increase; an entry (t, o) means no batch before
/// offset o in the segment has a timestamp above t, and the batch at o has timestamp t.
/// <see cref="Lookup"/> gives the largest entry whose timestamp is at or below the target.
/// Threads: see <see cref="IndexStore{T}"/>.
/// </remarks>
public sealed class TimeIndex : IDisposable
{
    private readonly IndexStore<TimeIndexEntry> _store;

    private TimeIndex(IndexStore<TimeIndexEntry> store, long baseOffset)
    {
        _store = store;
        BaseOffset = baseOffset;
    }

    public long BaseOffset { get; }
    public string Path => _store.Path;
    public int Count => _store.Count;
    public bool WasMissing => _store.WasMissing;

    public static TimeIndex Open(string path, long baseOffset) => new(IndexStore<TimeIndexEntry>.Open(path), baseOffset);

    /// <summary>The entries as (timestamp, absolute offset) pairs, oldest first.</summary>
    public IReadOnlyList<(long Timestamp, long Offset)> Entries
    {
        get
        {
            var entries = _store.Current.Entries;
            var result = new (long, long)[entries.Length];
            for (int i = 0; i < entries.Length; i++) result[i] = (entries[i].Timestamp, BaseOffset + entries[i].RelativeOffset);
            return result;
        }
    }

    /// <summary>The last entry, or null when there is none.</summary>
    public (long Timestamp, long Offset)? LastEntry
    {
        get
        {
            var entries = _store.Current.Entries;
            return entries.IsEmpty ? null : (entries[^1].Timestamp, BaseOffset + entries[^1].RelativeOffset);
        }
    }

    /// <summary>The largest entry with timestamp ≤ <paramref name="targetTimestamp"/>, or null when there is none.</summary>
    public (long Timestamp, long Offset)? Lookup(long targetTimestamp)
    {
        var entries = _store.Current.Entries;
        int low = 0, high = entries.Length - 1, found = -1;
        while (low <= high)
        {
            int mid = (low + high) >>> 1;
            if (entries[mid].Timestamp <= targetTimestamp) { found = mid; low = mid + 1; }
            else high = mid - 1;
        }
        return found < 0 ? null : (entries[found].Timestamp, BaseOffset + entries[found].RelativeOffset);
    }

    /// <summary>Adds (timestamp, offset) when the timestamp is above the last entry's; otherwise does nothing.
    /// Returns whether an entry was added.</summary>
    public bool MaybeAppend(long timestamp, long offset)
    {
        var entries = _store.Current.Entries;
        if (!entries.IsEmpty && timestamp <= entries[^1].Timestamp) return false;
        long relative = offset - BaseOffset;
        if (relative < 0 || relative > int.MaxValue)
            throw new InvalidOperationException($"offset {offset} does not fit time index {Path} with base offset {BaseOffset}");
        if (!entries.IsEmpty && relative <= entries[^1].RelativeOffset)
            throw new InvalidOperationException($"time index entry ({timestamp}, {offset}) does not follow the last entry of {Path}");
        _store.Append(new TimeIndexEntry(timestamp, (int)relative));
        return true;
    }

    /// <summary>Removes every entry whose offset is ≥ <paramref name="offset"/>.</summary>
    public void TruncateTo(long offset)
    {
        var entries = _store.Current.Entries;
        int keep = entries.Length;
        while (keep > 0 && BaseOffset + entries[keep - 1].RelativeOffset >= offset) keep--;
        _store.TruncateToCount(keep);
    }

    public void Replace(IReadOnlyList<(long Timestamp, long Offset)> entries)
    {
        var converted = new TimeIndexEntry[entries.Count];
        for (int i = 0; i < converted.Length; i++)
            converted[i] = new TimeIndexEntry(entries[i].Timestamp, checked((int)(entries[i].Offset - BaseOffset)));
        _store.Replace(converted);
    }

    /// <summary>Why the index cannot be trusted for a segment whose offsets end before
    /// <paramref name="nextOffset"/>, or null.</summary>
    public string? FindInconsistency(long nextOffset)
    {
        if (_store.HasPartialEntry) return $"{Path} ends with a partial entry";
        var entries = _store.Current.Entries;
        for (int i = 0; i < entries.Length; i++)
        {
            var e = entries[i];
            if (e.RelativeOffset < 0 || BaseOffset + e.RelativeOffset >= nextOffset)
                return $"{Path} entry {i} has offset {BaseOffset + e.RelativeOffset}, outside the segment's offsets [{BaseOffset}, {nextOffset})";
            if (i > 0 && (e.Timestamp <= entries[i - 1].Timestamp || e.RelativeOffset <= entries[i - 1].RelativeOffset))
                return $"{Path} entry {i} ({e.Timestamp}, {e.RelativeOffset}) does not follow entry {i - 1} ({entries[i - 1].Timestamp}, {entries[i - 1].RelativeOffset})";
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
