using Fjord.Storage;

namespace Fjord.Broker.Replication;

/// <summary>
/// The producer-state snapshot files of one partition directory (<see cref="ProducerStateSnapshot"/>):
/// which exist, writing one, loading the table from the newest usable one plus the log after it, and
/// deleting those that no longer describe the log.
/// </summary>
/// <remarks>
/// <para><b>Invariant.</b> A snapshot at offset O holds the table as it was when the log ended at O. As
/// long as the log below O is unchanged, (snapshot O + replay of the log from O) gives the same table as
/// applying the log from its first batch — the table a full scan builds when the log start has not
/// moved; after retention or DeleteRecords it also keeps producers whose batches are all below the log
/// start, as the live table does (a full scan cannot see them). So a snapshot is usable only while
/// log start ≤ O ≤ log end: one above the log end (the log was truncated or lost unflushed data) or
/// below the log start (the batches between it and the log start are gone) is deleted before loading
/// and never used. A truncation deletes the snapshots above the new log end before anything is
/// appended again.</para>
/// <para><b>Retention.</b> After every write only the newest <see cref="Retained"/> files stay; the
/// periodic maintenance deletes those below the log start.</para>
/// <para><b>Failures.</b> A file that cannot be read or fails its checks is logged, deleted and skipped:
/// the next older one is tried, then a full scan. Writing is best effort (an error is logged, the
/// table is unaffected): new contents go to <c>.snapshot.tmp</c> and are renamed into place, so a crash
/// leaves the old file or a whole new one (or, unflushed, a torn one that its CRC rejects); leftover
/// <c>.tmp</c> files are removed on open. Not thread-safe: the owning partition's lock serialises it.</para>
/// </remarks>
internal sealed class ProducerSnapshotFiles
{
    /// <summary>How many snapshots are kept after a write.</summary>
    public const int Retained = 2;

    private const string TempSuffix = ".tmp";

    private readonly string _directory;
    private readonly string _name;
    private readonly Action<string> _log;
    private readonly SortedSet<long> _offsets = [];

    public ProducerSnapshotFiles(string directory, string name, Action<string> log)
    {
        _directory = directory;
        _name = name;
        _log = log;
        try
        {
            foreach (var path in Directory.EnumerateFiles(directory))
            {
                var file = Path.GetFileName(path);
                if (file.EndsWith(ProducerStateSnapshot.Suffix + TempSuffix, StringComparison.Ordinal))
                    TryDelete(path, "an unfinished snapshot write");
                else if (ProducerStateSnapshot.ParseFileName(file) is { } offset)
                    _offsets.Add(offset);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _log($"{_name}: cannot list producer snapshots: {e.Message}");
        }
    }

    /// <summary>The offsets of the snapshot files present, ascending.</summary>
    public IReadOnlyList<long> Offsets => [.. _offsets];

    public string PathOf(long offset) => Path.Combine(_directory, ProducerStateSnapshot.FileName(offset));

    /// <summary>What a load did: the snapshot used (null: a full scan) and how many batches were applied from the log.</summary>
    public readonly record struct LoadOutcome(long? SnapshotOffset, long BatchesReplayed);

    /// <summary>
    /// Rebuilds <paramref name="table"/> for <paramref name="log"/>: snapshots outside [log start, log end]
    /// are deleted; the newest one that reads and checks correctly is loaded and the log from its offset
    /// replayed; with none, the whole log is scanned. Aborted entries below the log start are dropped.
    /// </summary>
    public LoadOutcome LoadInto(ProducerStateTable table, PartitionLog log)
    {
        long start = log.LogStartOffset, end = log.LogEndOffset;
        foreach (long offset in _offsets.Where(o => o > end || o < start).ToList())
            Delete(offset, o => o > end ? $"above the log end {end}" : $"below the log start {start}");
        foreach (long offset in _offsets.Reverse().ToList())
        {
            ProducerStateSnapshot.Contents contents;
            try
            {
                contents = ProducerStateSnapshot.Decode(File.ReadAllBytes(PathOf(offset)), offset);
            }
            catch (Exception e) when (e is FormatException or IOException or UnauthorizedAccessException)
            {
                _log($"{_name}: producer snapshot {ProducerStateSnapshot.FileName(offset)} ignored: {e.Message}");
                Delete(offset, _ => "unusable");
                continue;
            }
            table.LoadSnapshot(contents);
            long replayed = table.Replay(log, offset);
            table.PruneAbortedBelow(start);
            return new LoadOutcome(offset, replayed);
        }
        return new LoadOutcome(null, table.Rebuild(log));
    }

    /// <summary>
    /// Writes <paramref name="table"/> as the snapshot at <paramref name="offset"/> (which must be the log
    /// end the table covers), then keeps only the newest <see cref="Retained"/>. <paramref name="sync"/>
    /// fsyncs the file and the directory (clean shutdown). Returns false (logged) when writing failed.
    /// </summary>
    public bool Write(ProducerStateTable table, long offset, bool sync)
    {
        var path = PathOf(offset);
        var temp = path + TempSuffix;
        try
        {
            var bytes = table.ToSnapshot(offset);
            using (var handle = File.OpenHandle(temp, FileMode.Create, FileAccess.Write, FileShare.None))
            {
                RandomAccess.Write(handle, bytes, 0);
                if (sync) RandomAccess.FlushToDisk(handle);
            }
            File.Move(temp, path, overwrite: true);
            if (sync) AtomicFile.FsyncDirectory(_directory);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _log($"{_name}: writing producer snapshot {ProducerStateSnapshot.FileName(offset)} failed: {e.Message}");
            TryDelete(temp, "a failed snapshot write");
            return false;
        }
        _offsets.Add(offset);
        while (_offsets.Count > Retained) Delete(_offsets.Min, _ => null);
        return true;
    }

    /// <summary>Deletes the snapshots above <paramref name="logEndOffset"/> (after a truncation). Returns how many.</summary>
    /// <remarks>The directory is fsynced after a deletion, so a crash cannot bring back a snapshot of
    /// offsets that will be written again with other batches.</remarks>
    public int DeleteAbove(long logEndOffset)
    {
        int deleted = DeleteWhere(o => o > logEndOffset, $"above the log end {logEndOffset} after a truncation");
        if (deleted > 0)
        {
            try
            {
                AtomicFile.FsyncDirectory(_directory);
            }
            catch (IOException e)
            {
                _log($"{_name}: fsync of the partition directory failed: {e.Message}");
            }
        }
        return deleted;
    }

    /// <summary>Deletes the snapshots below <paramref name="logStartOffset"/> (retention, DeleteRecords). Returns how many.</summary>
    public int DeleteBelow(long logStartOffset) =>
        _offsets.Count == 0 || _offsets.Min >= logStartOffset ? 0 : DeleteWhere(o => o < logStartOffset, null);

    /// <summary>Deletes every snapshot (the log restarts elsewhere). Returns how many.</summary>
    public int DeleteAll() => DeleteWhere(_ => true, null);

    private int DeleteWhere(Func<long, bool> predicate, string? reason)
    {
        var doomed = _offsets.Where(predicate).ToList();
        foreach (long offset in doomed) Delete(offset, _ => reason);
        return doomed.Count;
    }

    private void Delete(long offset, Func<long, string?> reason)
    {
        _offsets.Remove(offset);
        if (reason(offset) is { } why) _log($"{_name}: deleting producer snapshot {ProducerStateSnapshot.FileName(offset)}: {why}");
        TryDelete(PathOf(offset), null);
    }

    private void TryDelete(string path, string? what)
    {
        try
        {
            File.Delete(path);
            if (what is not null) _log($"{_name}: deleted {Path.GetFileName(path)}, {what}");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _log($"{_name}: cannot delete {Path.GetFileName(path)}: {e.Message}");
        }
    }
}
