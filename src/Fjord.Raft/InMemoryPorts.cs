using Fjord.Protocol.Records;

namespace Fjord.Raft;

/// <summary>
/// <see cref="IRaftLog"/> in memory, for tests and the simulation. <see cref="Crash"/> drops what
/// was not flushed, as a process crash on a real disk would.
/// </summary>
public sealed class InMemoryRaftLog : IRaftLog
{
    private readonly List<(long BaseOffset, long LastOffset, int Epoch, byte[] Bytes)> _batches = [];

    public long StartOffset => 0;
    public long EndOffset => _batches.Count == 0 ? 0 : _batches[^1].LastOffset + 1;
    public long FlushedOffset { get; private set; }
    public int LastEpoch => _batches.Count == 0 ? 0 : _batches[^1].Epoch;
    public IReadOnlyList<(long BaseOffset, long LastOffset, int Epoch, byte[] Bytes)> Batches => _batches;

    public OffsetAndEpoch EndOffsetForEpoch(int epoch)
    {
        for (int i = _batches.Count - 1; i >= 0; i--)
        {
            if (_batches[i].Epoch <= epoch)
                return new OffsetAndEpoch(_batches[i].LastOffset + 1, _batches[i].Epoch);
        }
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

    /// <summary>Loses everything appended since the last flush.</summary>
    public void Crash() => _batches.RemoveAll(b => b.LastOffset >= FlushedOffset);
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
