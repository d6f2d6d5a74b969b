namespace Fjord.Storage;

/// <summary>
/// The leader epochs of a partition log and the offset each started at, persisted in
/// <c>leader-epoch-checkpoint</c> after every change. Answers OffsetsForLeaderEpoch.
/// </summary>
/// <remarks>
/// Invariant (storage.md #6): entries strictly increase in both epoch and start offset.
/// <see cref="Assign"/> drops entries that would break that (as Kafka does); truncating the log
/// truncates the cache to match. Threads: changes come from the owning log's writer (and are
/// serialised by a lock of their own); readers see an immutable array and take no lock.
/// </remarks>
public sealed class LeaderEpochCache
{
    public const int UndefinedEpoch = -1;
    public const long UndefinedEpochOffset = -1;

    private readonly object _writeLock = new();
    private readonly string? _checkpointPath;
    private readonly Func<long> _logEndOffset;
    private EpochEntry[] _entries;

    /// <param name="checkpointPath">The checkpoint file, or null to keep the cache in memory only.</param>
    /// <param name="logEndOffset">The owning log's end offset, for <see cref="EndOffsetFor(int)"/>.</param>
    public LeaderEpochCache(string? checkpointPath, Func<long> logEndOffset, IEnumerable<EpochEntry>? entries = null)
    {
        _checkpointPath = checkpointPath;
        _logEndOffset = logEndOffset;
        _entries = [];
        var list = new List<EpochEntry>();
        foreach (var entry in entries ?? []) AssignInto(list, entry);
        _entries = [.. list];
    }

    /// <summary>Loads <c>leader-epoch-checkpoint</c> from <paramref name="directory"/> (empty when absent).</summary>
    public static LeaderEpochCache Load(string directory, Func<long> logEndOffset)
    {
        var path = LeaderEpochCheckpointFile.PathIn(directory);
        return new LeaderEpochCache(path, logEndOffset, LeaderEpochCheckpointFile.Read(path));
    }

    public IReadOnlyList<EpochEntry> Entries => Volatile.Read(ref _entries);

    /// <summary>The newest epoch, or <see cref="UndefinedEpoch"/> when the cache is empty.</summary>
    public int LatestEpoch => Volatile.Read(ref _entries) is { Length: > 0 } e ? e[^1].Epoch : UndefinedEpoch;

    public EpochEntry? LatestEntry => Volatile.Read(ref _entries) is { Length: > 0 } e ? e[^1] : null;
    public EpochEntry? EarliestEntry => Volatile.Read(ref _entries) is { Length: > 0 } e ? e[0] : null;

    /// <summary>
    /// Records that <paramref name="epoch"/> starts at <paramref name="startOffset"/>. Nothing changes
    /// when it is already the latest entry with an equal or lower start; otherwise entries with an epoch
    /// ≥ <paramref name="epoch"/> or a start offset ≥ <paramref name="startOffset"/> are dropped first.
    /// Persists the checkpoint when anything changed.
    /// </summary>
    public void Assign(int epoch, long startOffset)
    {
        if (epoch < 0) throw new ArgumentOutOfRangeException(nameof(epoch), $"invalid leader epoch {epoch}");
        if (startOffset < 0) throw new ArgumentOutOfRangeException(nameof(startOffset), $"invalid start offset {startOffset}");
        lock (_writeLock)
        {
            var list = new List<EpochEntry>(_entries);
            if (!AssignInto(list, new EpochEntry(epoch, startOffset))) return;
            Publish(list);
        }
    }

    private static bool AssignInto(List<EpochEntry> list, EpochEntry entry)
    {
        if (list.Count > 0 && list[^1].Epoch == entry.Epoch && list[^1].StartOffset <= entry.StartOffset) return false;
        while (list.Count > 0 && (list[^1].Epoch >= entry.Epoch || list[^1].StartOffset >= entry.StartOffset)) list.RemoveAt(list.Count - 1);
        list.Add(entry);
        return true;
    }

    /// <summary>OffsetsForLeaderEpoch with the owning log's current end offset.</summary>
    public (int Epoch, long EndOffset) EndOffsetFor(int requestedEpoch) => EndOffsetFor(requestedEpoch, _logEndOffset());

    /// <summary>
    /// OffsetsForLeaderEpoch, with Kafka's semantics: for the latest epoch, (epoch, log end offset);
    /// otherwise the largest epoch ≤ the requested one and the start offset of the first epoch above it.
    /// A requested epoch below every entry answers (requested epoch, first entry's start offset);
    /// <see cref="UndefinedEpoch"/>, an epoch above the latest, or an empty cache answer
    /// (<see cref="UndefinedEpoch"/>, <see cref="UndefinedEpochOffset"/>).
    /// </summary>
    public (int Epoch, long EndOffset) EndOffsetFor(int requestedEpoch, long logEndOffset)
    {
        var entries = Volatile.Read(ref _entries);
        if (requestedEpoch == UndefinedEpoch || entries.Length == 0) return (UndefinedEpoch, UndefinedEpochOffset);
        if (entries[^1].Epoch == requestedEpoch) return (requestedEpoch, logEndOffset);
        int higher = 0;
        while (higher < entries.Length && entries[higher].Epoch <= requestedEpoch) higher++;
        if (higher == entries.Length) return (UndefinedEpoch, UndefinedEpochOffset);
        if (higher == 0) return (requestedEpoch, entries[0].StartOffset);
        return (entries[higher - 1].Epoch, entries[higher].StartOffset);
    }

    /// <summary>The epoch of the batch holding <paramref name="offset"/>, or null when below every entry.</summary>
    public int? EpochForOffset(long offset)
    {
        int? epoch = null;
        foreach (var entry in Volatile.Read(ref _entries))
        {
            if (entry.StartOffset > offset) break;
            epoch = entry.Epoch;
        }
        return epoch;
    }

    /// <summary>Drops every entry starting at or after <paramref name="endOffset"/> (the log was truncated there).</summary>
    public void TruncateFromEnd(long endOffset)
    {
        lock (_writeLock)
        {
            var list = new List<EpochEntry>(_entries);
            int before = list.Count;
            while (list.Count > 0 && list[^1].StartOffset >= endOffset) list.RemoveAt(list.Count - 1);
            if (list.Count != before) Publish(list);
        }
    }

    /// <summary>
    /// The log now starts at <paramref name="startOffset"/>: entries starting at or before it are
    /// dropped, and the last of them is kept, moved to start at <paramref name="startOffset"/>.
    /// </summary>
    public void TruncateFromStart(long startOffset)
    {
        lock (_writeLock)
        {
            var list = new List<EpochEntry>(_entries);
            int removed = 0;
            while (removed < list.Count && list[removed].StartOffset <= startOffset) removed++;
            if (removed == 0) return;
            var kept = new EpochEntry(list[removed - 1].Epoch, startOffset);
            list.RemoveRange(0, removed);
            list.Insert(0, kept);
            Publish(list);
        }
    }

    /// <summary>Removes every entry (the log was emptied).</summary>
    public void Clear()
    {
        lock (_writeLock)
        {
            if (_entries.Length == 0 && (_checkpointPath is null || File.Exists(_checkpointPath))) return;
            Publish([]);
        }
    }

    /// <summary>Writes the checkpoint file again (on close).</summary>
    public void Persist()
    {
        lock (_writeLock)
        {
            if (_checkpointPath is not null) LeaderEpochCheckpointFile.Write(_checkpointPath, _entries);
        }
    }

    private void Publish(List<EpochEntry> list)
    {
        var entries = list.ToArray();
        if (_checkpointPath is not null) LeaderEpochCheckpointFile.Write(_checkpointPath, entries);
        Volatile.Write(ref _entries, entries);
    }

    public override string ToString() => $"LeaderEpochCache([{string.Join(", ", Entries)}])";
}
