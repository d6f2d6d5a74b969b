namespace Fjord.Raft.Simulation;

/// <summary>
/// The safety properties of docs/raft.md, checked after every step of a simulation:
/// at most one leader per epoch; epochs never go back on a node; high watermarks never go back on
/// a node (within one incarnation); every committed batch is identical wherever it is reported;
/// a majority of voters held each committed batch durably when it was reported.
/// </summary>
internal sealed class InvariantChecker(int[] voterIds, Action<string> fail)
{
    private readonly Dictionary<int, int> _leaderOfEpoch = [];
    private readonly Dictionary<int, int> _lastEpoch = [];
    private readonly Dictionary<int, long> _lastHighWatermark = [];
    private readonly Dictionary<long, byte[]> _committed = [];

    public int CommittedBatches => _committed.Count;
    public long Epochs => _leaderOfEpoch.Count;

    public void Restarted(SimNode n) => _lastHighWatermark.Remove(n.Id);

    public void Check(IEnumerable<SimNode> nodes)
    {
        foreach (var n in nodes)
        {
            var raft = n.Raft;
            if (raft is null) continue;
            if (raft.Role == RaftRole.Leader)
            {
                if (!n.IsVoter) fail($"observer {n.Id} became leader");
                if (_leaderOfEpoch.TryGetValue(raft.Epoch, out var other) && other != n.Id)
                    fail($"two leaders in epoch {raft.Epoch}: {other} and {n.Id}");
                _leaderOfEpoch[raft.Epoch] = n.Id;
            }
            if (_lastEpoch.TryGetValue(n.Id, out var epoch) && raft.Epoch < epoch)
                fail($"node {n.Id} went from epoch {epoch} back to {raft.Epoch}");
            _lastEpoch[n.Id] = raft.Epoch;
            if (_lastHighWatermark.TryGetValue(n.Id, out var hw) && raft.HighWatermark < hw)
                fail($"node {n.Id} high watermark went from {hw} back to {raft.HighWatermark}");
            _lastHighWatermark[n.Id] = raft.HighWatermark;
        }
    }

    public void Committed(SimNode reporter, CommittedBatch batch, IReadOnlyList<SimNode> nodes)
    {
        var bytes = batch.Bytes.ToArray();
        if (_committed.TryGetValue(batch.BaseOffset, out var known))
        {
            if (!known.AsSpan().SequenceEqual(bytes))
                fail($"node {reporter.Id} committed a different batch at offset {batch.BaseOffset}");
        }
        else _committed[batch.BaseOffset] = bytes;

        int durable = 0;
        foreach (var n in nodes.Where(n => n.IsVoter))
        {
            if (n.Log.FlushedOffset <= batch.LastOffset) continue;
            var held = n.Log.Batches.FirstOrDefault(b => b.BaseOffset == batch.BaseOffset);
            if (held.Bytes is not null && held.Bytes.AsSpan().SequenceEqual(bytes)) durable++;
        }
        if (durable <= voterIds.Length / 2)
            fail($"batch {batch.BaseOffset}-{batch.LastOffset} reported committed by {reporter.Id} but durable on only {durable} of {voterIds.Length} voters");
    }
}
