using Fjord.Protocol.Records;

namespace Fjord.Raft;

/// <summary>
/// <see cref="IRaftLog"/> in memory, for tests and the simulation. <see cref="Crash"/> drops what
/// was not flushed, as a process crash on a real disk would, and every snapshot still being written
/// (frozen snapshots, the log start and resets are durable at once).
/// </summary>
public sealed class InMemoryRaftLog : IRaftLog
{
    private static readonly Comparer<OffsetAndEpoch> ByEndOffset =
        Comparer<OffsetAndEpoch>.Create((a, b) => a.Offset != b.Offset ? a.Offset.CompareTo(b.Offset) : a.Epoch.CompareTo(b.Epoch));

    private readonly List<(long BaseOffset, long LastOffset, int Epoch, byte[] Bytes)> _batches = [];
    private readonly SortedDictionary<OffsetAndEpoch, byte[]> _snapshots = new(ByEndOffset);
    private int _startEpoch;
    private int _incarnation;

    public long StartOffset { get; private set; }
    public long EndOffset => _batches.Count == 0 ? StartOffset : _batches[^1].LastOffset + 1;
    public long FlushedOffset { get; private set; }
    public int LastEpoch => _batches.Count == 0 ? _startEpoch : _batches[^1].Epoch;
    public IReadOnlyList<(long BaseOffset, long LastOffset, int Epoch, byte[] Bytes)> Batches => _batches;

    /// <summary>The complete snapshots, oldest first.</summary>
    public IReadOnlyCollection<OffsetAndEpoch> Snapshots => _snapshots.Keys;

    /// <summary>Snapshot writers created and neither frozen nor disposed (a crash loses them).</summary>
    public int OpenSnapshotWriters { get; private set; }

    public OffsetAndEpoch EndOffsetForEpoch(int epoch)
    {
        for (int i = _batches.Count - 1; i >= 0; i--)
        {
            if (_batches[i].Epoch <= epoch)
                return new OffsetAndEpoch(_batches[i].LastOffset + 1, _batches[i].Epoch);
        }
        if (StartOffset > 0 && _startEpoch <= epoch) return new OffsetAndEpoch(StartOffset, _startEpoch);
        return new OffsetAndEpoch(-1, -1);
    }

    public void AppendAsLeader(ReadOnlyMemory<byte> batches, int epoch)
    {
        var copy = batches.ToArray();
        RecordBatchRewriter.AssignOffsets(copy, EndOffset, epoch);
        Add(copy);
    }

    public void AppendAsFollower(ReadOnlyMemory<byte> batches) => Add(batches.ToArray());

    private void Add(byte[] bytes)
    {
        var reader = new RecordBatchReader(bytes);
        while (reader.MoveNext())
        {
            var batch = reader.Current;
            batch.Validate();
            if (batch.BaseOffset != EndOffset)
                throw new InvalidOperationException($"batch at {batch.BaseOffset} does not continue the log ending at {EndOffset}");
            if (batch.PartitionLeaderEpoch < LastEpoch)
                throw new InvalidOperationException($"batch epoch {batch.PartitionLeaderEpoch} is below the log's last epoch {LastEpoch}");
            _batches.Add((batch.BaseOffset, batch.LastOffset, batch.PartitionLeaderEpoch, batch.Bytes.ToArray()));
        }
    }

    public ReadOnlyMemory<byte> Read(long startOffset, int maxBytes, long endOffsetExclusive)
    {
        using var output = new MemoryStream();
        foreach (var b in _batches)
        {
            if (b.LastOffset < startOffset) continue;
            if (b.LastOffset >= endOffsetExclusive) break;
            if (output.Length > 0 && output.Length + b.Bytes.Length > maxBytes) break;
            output.Write(b.Bytes);
        }
        return output.ToArray();
    }

    public void TruncateTo(long offset)
    {
        _batches.RemoveAll(b => b.LastOffset >= offset);
        FlushedOffset = Math.Min(FlushedOffset, EndOffset);
    }

    public void Flush() => FlushedOffset = EndOffset;

    /// <summary>Loses everything appended since the last flush, and every snapshot being written.</summary>
    public void Crash()
    {
        _batches.RemoveAll(b => b.LastOffset >= FlushedOffset);
        _incarnation++;
        OpenSnapshotWriters = 0;
    }

    public OffsetAndEpoch? LatestSnapshotId => _snapshots.Count == 0 ? null : _snapshots.Keys.Last();

    public IRaftSnapshotWriter CreateSnapshot(OffsetAndEpoch id)
    {
        if (id.Offset < 0 || id.Epoch < 0) throw new ArgumentOutOfRangeException(nameof(id), $"invalid snapshot id {id}");
        if (_snapshots.ContainsKey(id)) throw new InvalidOperationException($"snapshot {id} already exists");
        OpenSnapshotWriters++;
        return new SnapshotWriter(this, id, _incarnation);
    }

    public RaftSnapshotChunk? ReadSnapshot(OffsetAndEpoch id, long position, int maxBytes)
    {
        if (!_snapshots.TryGetValue(id, out var bytes)) return null;
        if (position < 0 || position >= bytes.Length) return new RaftSnapshotChunk(ReadOnlyMemory<byte>.Empty, bytes.Length);
        int length = (int)Math.Min(Math.Max(0, maxBytes), bytes.Length - position);
        return new RaftSnapshotChunk(bytes.AsMemory((int)position, length), bytes.Length);
    }

    public void AdvanceStartToSnapshot(OffsetAndEpoch id)
    {
        if (!_snapshots.ContainsKey(id)) throw new InvalidOperationException($"no snapshot {id}");
        if (id.Offset <= StartOffset) return;
        if (id.Offset > EndOffset) throw new InvalidOperationException($"snapshot {id} ends past the log end {EndOffset}");
        if (_batches.Any(b => b.BaseOffset < id.Offset && b.LastOffset >= id.Offset))
            throw new InvalidOperationException($"snapshot {id} does not end on a batch boundary");
        _batches.RemoveAll(b => b.LastOffset < id.Offset);
        StartOffset = id.Offset;
        _startEpoch = id.Epoch;
        FlushedOffset = Math.Max(FlushedOffset, StartOffset);
        DeleteSnapshotsBefore(id);
    }

    public void ResetToSnapshot(OffsetAndEpoch id)
    {
        if (!_snapshots.ContainsKey(id)) throw new InvalidOperationException($"no snapshot {id}");
        _batches.Clear();
        StartOffset = FlushedOffset = id.Offset;
        _startEpoch = id.Epoch;
        DeleteSnapshotsBefore(id);
    }

    private void DeleteSnapshotsBefore(OffsetAndEpoch id)
    {
        foreach (var older in _snapshots.Keys.Where(k => ByEndOffset.Compare(k, id) < 0).ToList()) _snapshots.Remove(older);
    }

    private sealed class SnapshotWriter(InMemoryRaftLog log, OffsetAndEpoch id, int incarnation) : IRaftSnapshotWriter
    {
        private readonly MemoryStream _bytes = new();
        private bool _done;

        public OffsetAndEpoch Id => id;
        public long Size => _bytes.Length;

        public void Append(ReadOnlySpan<byte> bytes)
        {
            EnsureWritable();
            _bytes.Write(bytes);
        }

        public void Freeze()
        {
            EnsureWritable();
            if (log._snapshots.ContainsKey(id)) throw new InvalidOperationException($"snapshot {id} already exists");
            log._snapshots[id] = _bytes.ToArray();
            Close();
        }

        public void Dispose()
        {
            if (!_done) Close();
        }

        private void Close()
        {
            _done = true;
            if (incarnation == log._incarnation) log.OpenSnapshotWriters--;
        }

        private void EnsureWritable()
        {
            if (_done) throw new InvalidOperationException($"snapshot {id} is frozen or disposed");
            if (incarnation != log._incarnation) throw new InvalidOperationException($"snapshot {id} was lost in a crash");
        }
    }
}

/// <summary><see cref="IQuorumStateStore"/> in memory (writes are "durable": they survive <c>Crash</c>).</summary>
public sealed class InMemoryQuorumStateStore : IQuorumStateStore
{
    private ElectionState? _state;
    public int Writes { get; private set; }
    public ElectionState? Read() => _state;
    public void Write(ElectionState state)
    {
        _state = state;
        Writes++;
    }
}
