using Fjord.Raft;
using Fjord.Storage;

namespace Fjord.Server.Raft;

/// <summary>
/// <see cref="IRaftLog"/> over the <see cref="PartitionLog"/> of <c>__cluster_metadata-0</c>.
/// Durability: <see cref="FlushedOffset"/> is the log's recovery point, which <see cref="Flush"/>
/// raises to the log end offset and truncation lowers with it. <see cref="Flush"/> may run on another
/// thread while the node thread uses the log (the <see cref="RaftNetworkDriver"/> flushes on a thread
/// of its own): the partition serialises writers and flushes under its write lock, and reads are lock-free.
/// Reads of what was appended recently — a leader answering the fetches parked on it with the batch it
/// just appended, then delivering that batch once committed; a follower delivering what it just
/// fetched — are answered from a tail cache (<see cref="RaftTailCache"/>, at most
/// <see cref="TailCacheBytes"/>) holding those batches byte for byte as written, so they cost no file
/// read and no copy. Anything else reads the segment files. The partition must change only through
/// this adapter while it is in use: the cache notices changes made behind its back only when they
/// move the log end offset.
/// </summary>
/// <remarks>
/// Contract mapping (compare <see cref="InMemoryRaftLog"/>):
/// <list type="bullet">
/// <item><see cref="EndOffsetForEpoch"/> is computed from the leader-epoch cache's entries, not from
/// <see cref="LeaderEpochCache.EndOffsetFor(int)"/>, whose Kafka OffsetsForLeaderEpoch semantics
/// differ from the Raft contract in two cases: an epoch above the latest answers (-1, -1) there but
/// (log end, latest epoch) here; an epoch below every entry answers (requested, first start offset)
/// there but (-1, -1) here.</item>
/// <item><see cref="Read"/> at or past the log end answers empty (the in-memory log does;
/// <see cref="PartitionLog.Read"/> would throw past the end).</item>
/// <item><see cref="LastEpoch"/> and <see cref="EndOffsetForEpoch"/> fall back on the snapshot the log
/// starts after when the cache has nothing to say (an empty cache says -1).</item>
/// </list>
/// Snapshots live next to the segments, as <see cref="SnapshotFiles"/> names them
/// (<c>&lt;end offset&gt;-&lt;epoch&gt;.checkpoint</c>, <c>.part</c> while written, through
/// <see cref="SnapshotWriter.CreateRaw"/>, which checks the Kafka layout before the rename). The log
/// start is not checkpointed: a reopened log starts at its first segment, moved at once to the latest
/// snapshot when the log holds the batch ending there with the snapshot's epoch (the constructor);
/// otherwise the Raft core restarts the log after that snapshot on start (<see cref="ResetToSnapshot"/>).
/// Deleting the prefix drops whole segments only (the active one stays). A bootstrap snapshot
/// (end offset 0, epoch 0, written by <c>storage format</c>) is an ordinary snapshot here.
/// </remarks>
public sealed class PartitionLogRaftLog : IRaftLog
{
    /// <summary><c>__cluster_metadata-0</c>.</summary>
    public static readonly TopicPartition MetadataPartition = new("__cluster_metadata", 0);

    private readonly List<SnapshotId> _snapshots;
    // The tail cache is filled by the appends and read by Read (the node's calls, one at a time);
    // Flush, which may run concurrently, does not touch it. The lock keeps it safe for any caller.
    private readonly Lock _tailLock = new();
    private readonly RaftTailCache _tail = new(TailCacheBytes);

    /// <summary>At most this many bytes of the most recently appended batches are kept in memory for reads.</summary>
    public const long TailCacheBytes = 4 << 20;

    /// <summary>Reads answered from the tail cache (tests check that it is used).</summary>
    internal long CachedReads { get; private set; }

    /// <summary>Wraps <paramref name="log"/>; when its latest snapshot ends on a batch of the log with
    /// the snapshot's epoch (the usual restart), the log start moves there at once, as it was before
    /// the restart. Any other disagreement is left to the core, which restarts the log after the snapshot.</summary>
    public PartitionLogRaftLog(PartitionLog log)
    {
        Log = log ?? throw new ArgumentNullException(nameof(log));
        _snapshots = [.. SnapshotFiles.List(log.Directory)]; // also removes .part files left by a crash
        if (_snapshots.Count > 0 && _snapshots[^1] is var latest && latest.EndOffset > log.LogStartOffset && latest.EndOffset <= log.LogEndOffset
            && EpochOfBatchEndingAt(latest.EndOffset) == latest.Epoch)
            log.AdvanceLogStartOffset(latest.EndOffset);
    }

    private int? EpochOfBatchEndingAt(long endOffset)
    {
        var reader = new Fjord.Protocol.Records.RecordBatchReader(Read(endOffset - 1, 1, long.MaxValue));
        return reader.MoveNext() && reader.Current.LastOffset == endOffset - 1 ? reader.Current.PartitionLeaderEpoch : null;
    }

    public PartitionLog Log { get; }

    /// <summary>The directory holding the segments and the snapshots.</summary>
    public string Directory => Log.Directory;

    /// <summary>
    /// Opens (creating when absent and recovering) the metadata log in <paramref name="directory"/>,
    /// then flushes it: a freshly opened PartitionLog has its recovery point at the one passed in
    /// (0 here), so without this <see cref="FlushedOffset"/> would claim nothing recovered is durable.
    /// Fsyncing what recovery kept makes it so (the in-memory log keeps its flushed offset across a crash).
    /// </summary>
    public static PartitionLogRaftLog Open(string directory, LogConfig? config = null, Fjord.Common.IClock? clock = null)
    {
        var log = PartitionLog.Open(directory, MetadataPartition, config ?? LogConfig.Default,
            clock ?? Fjord.Common.SystemClock.Instance, new LogOpenOptions());
        log.Flush();
        return new PartitionLogRaftLog(log);
    }

    public long StartOffset => Log.LogStartOffset;
    public long EndOffset => Log.LogEndOffset;

    /// <summary>The recovery point; never below the log start (what lies below is in a durable snapshot).</summary>
    public long FlushedOffset => Math.Max(Log.RecoveryPoint, Log.LogStartOffset);

    public int LastEpoch => Log.LeaderEpochs.LatestEpoch is >= 0 and var latest ? latest : StartEpoch;

    /// <summary>The epoch of the snapshot the log starts after (0 when it starts at 0 or no snapshot ends there).</summary>
    private int StartEpoch
    {
        get
        {
            long start = Log.LogStartOffset;
            if (start == 0) return 0;
            for (int i = _snapshots.Count - 1; i >= 0; i--)
                if (_snapshots[i].EndOffset == start) return _snapshots[i].Epoch;
            return 0;
        }
    }

    public OffsetAndEpoch EndOffsetForEpoch(int epoch)
    {
        var entries = Log.LeaderEpochs.Entries;
        long logEnd = Log.LogEndOffset;
        for (int i = entries.Count - 1; i >= 0; i--)
        {
            if (entries[i].Epoch > epoch) continue;
            long end = i + 1 < entries.Count ? entries[i + 1].StartOffset : logEnd;
            return new OffsetAndEpoch(end, entries[i].Epoch);
        }
        long start = Log.LogStartOffset;
        if (start > 0 && StartEpoch <= epoch) return new OffsetAndEpoch(start, StartEpoch);
        return new OffsetAndEpoch(-1, -1);
    }

    /// <summary>Appends through <see cref="PartitionLog.AppendAsLeader"/>, and caches the batches as it wrote
    /// them: the same offsets and partition leader epoch assigned to a copy (under LogAppendTime the
    /// partition also stamps its clock, which the copy would not match, so the cache is cleared instead).</summary>
    public void AppendAsLeader(ReadOnlyMemory<byte> batches, int epoch)
    {
        long first = Log.LogEndOffset;
        Log.AppendAsLeader(batches, epoch);
        lock (_tailLock)
        {
            if (Log.Config.MessageTimestampType == Fjord.Protocol.Records.TimestampType.LogAppendTime) _tail.Clear();
            else _tail.Append(batches.Span, Log.LogEndOffset, (first, epoch));
        }
    }

    public void AppendAsFollower(ReadOnlyMemory<byte> batches)
    {
        if (batches.IsEmpty) return;
        // The Raft contract is stricter than a Kafka follower's: no gaps, and epochs never go back.
        var reader = new Fjord.Protocol.Records.RecordBatchReader(batches);
        long expected = Log.LogEndOffset;
        int lastEpoch = LastEpoch;
        while (reader.MoveNext())
        {
            var batch = reader.Current;
            if (batch.BaseOffset != expected)
                throw new InvalidOperationException($"batch at {batch.BaseOffset} does not continue the log ending at {expected}");
            if (batch.PartitionLeaderEpoch < lastEpoch)
                throw new InvalidOperationException($"batch epoch {batch.PartitionLeaderEpoch} is below the log's last epoch {lastEpoch}");
            expected = batch.LastOffset + 1;
            lastEpoch = batch.PartitionLeaderEpoch;
        }
        Log.AppendAsFollower(batches);
        lock (_tailLock) _tail.Append(batches.Span, Log.LogEndOffset, assignFrom: null);
    }

    public ReadOnlyMemory<byte> Read(long startOffset, int maxBytes, long endOffsetExclusive)
    {
        long end = Log.LogEndOffset;
        if (startOffset >= end) return ReadOnlyMemory<byte>.Empty;
        if (startOffset >= Log.LogStartOffset)
        {
            lock (_tailLock)
            {
                if (_tail.Read(startOffset, Math.Max(0, maxBytes), endOffsetExclusive, end) is { } cached)
                {
                    CachedReads++;
                    return cached;
                }
            }
        }
        return Log.Read(startOffset, Math.Max(0, maxBytes), endOffsetExclusive).ToArray();
    }

    public void TruncateTo(long offset)
    {
        Log.Truncate(offset);
        lock (_tailLock) _tail.Clear();
    }

    public void Flush() => Log.Flush();

    // ---- snapshots ----

    public OffsetAndEpoch? LatestSnapshotId => _snapshots.Count == 0 ? null : ToRaft(_snapshots[^1]);

    /// <summary>The complete snapshots, oldest first.</summary>
    public IReadOnlyList<SnapshotId> Snapshots => _snapshots;

    public IRaftSnapshotWriter CreateSnapshot(OffsetAndEpoch id)
    {
        var storageId = ToStorage(id);
        if (_snapshots.Contains(storageId)) throw new InvalidOperationException($"snapshot {id} already exists in {Directory}");
        return new Writer(this, SnapshotWriter.CreateRaw(Directory, storageId));
    }

    public RaftSnapshotChunk? ReadSnapshot(OffsetAndEpoch id, long position, int maxBytes)
    {
        if (id.Offset < 0 || id.Epoch < 0 || !_snapshots.Contains(ToStorage(id))) return null;
        var path = SnapshotFiles.PathOf(Directory, ToStorage(id));
        try
        {
            using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, bufferSize: 1);
            long size = file.Length;
            if (position < 0 || position >= size) return new RaftSnapshotChunk(ReadOnlyMemory<byte>.Empty, size);
            var bytes = new byte[(int)Math.Min(Math.Max(0, maxBytes), size - position)];
            file.Position = position;
            file.ReadExactly(bytes);
            return new RaftSnapshotChunk(bytes, size);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new StorageException($"cannot read snapshot {path}: {e.Message}", e);
        }
    }

    public void AdvanceStartToSnapshot(OffsetAndEpoch id)
    {
        var storageId = ToStorage(id);
        if (!_snapshots.Contains(storageId)) throw new InvalidOperationException($"no snapshot {id} in {Directory}");
        if (id.Offset <= Log.LogStartOffset) return;
        Log.AdvanceLogStartOffset(id.Offset);
        lock (_tailLock) _tail.DropBelow(id.Offset);
        DeleteSnapshotsBefore(storageId);
    }

    public void ResetToSnapshot(OffsetAndEpoch id)
    {
        var storageId = ToStorage(id);
        if (!_snapshots.Contains(storageId)) throw new InvalidOperationException($"no snapshot {id} in {Directory}");
        Log.TruncateFullyAndStartAt(id.Offset);
        lock (_tailLock) _tail.Clear();
        DeleteSnapshotsBefore(storageId);
    }

    private void DeleteSnapshotsBefore(SnapshotId keep)
    {
        SnapshotFiles.DeleteBefore(Directory, keep);
        _snapshots.RemoveAll(s => s < keep);
    }

    private void Frozen(SnapshotId id)
    {
        int index = _snapshots.BinarySearch(id);
        if (index < 0) _snapshots.Insert(~index, id);
    }

    private static SnapshotId ToStorage(OffsetAndEpoch id) => new(id.Offset, id.Epoch);
    private static OffsetAndEpoch ToRaft(SnapshotId id) => new(id.EndOffset, id.Epoch);

    /// <summary>A raw <see cref="SnapshotWriter"/>: bytes as given; <see cref="Freeze"/> checks the layout, fsyncs and renames.</summary>
    private sealed class Writer(PartitionLogRaftLog owner, SnapshotWriter writer) : IRaftSnapshotWriter
    {
        public OffsetAndEpoch Id => ToRaft(writer.Id);
        public long Size => writer.SizeInBytes;
        public void Append(ReadOnlySpan<byte> bytes) => writer.AppendRaw(bytes);

        public void Freeze()
        {
            writer.Freeze();
            owner.Frozen(writer.Id);
        }

        public void Dispose() => writer.Dispose();
    }

    /// <summary>Flushes and closes the underlying log.</summary>
    public void Close() => Log.Close();
}
