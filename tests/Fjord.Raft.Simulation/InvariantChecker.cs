namespace Fjord.Raft.Simulation;

/// <summary>
/// The safety properties of docs/raft.md, checked after every step of a simulation:
/// at most one leader per epoch; epochs never go back on a node; high watermarks never go back on
/// a node (within one incarnation); every committed batch is identical wherever it is reported;
/// a majority of voters held each committed batch durably (in their log, or in a snapshot their log
/// starts after) when it was reported; a node that reported a batch committed while holding it
/// durably never loses it (nor holds another batch there, across restarts too) unless its log start
/// moves past it; the state a node's state machine reaches at an offset —
/// by applying batches, or by loading a snapshot and applying the batches after it — is the state
/// every other node reached there.
/// </summary>
internal sealed class InvariantChecker(int[] voterIds, Action<string> fail)
{
    private readonly Dictionary<int, int> _leaderOfEpoch = [];
    private readonly Dictionary<int, int> _lastEpoch = [];
    private readonly Dictionary<int, long> _lastHighWatermark = [];
    private readonly Dictionary<long, byte[]> _committed = [];
    private readonly Dictionary<int, (long BaseOffset, long LastOffset, byte[] Bytes)> _durableCommitted = [];
    private readonly Dictionary<long, StateDigest> _stateAt = new() { [0] = SimulatedStateMachine.Empty };

    private readonly HashSet<long> _voterChanges = [];
    private readonly List<(int Epoch, int[] Voters)> _leaderSets = [];
    private readonly HashSet<string> _leaderSetKeys = [];

    /// <summary>Dynamic quorum (KIP-853): durability is checked against the reporter's own voter set in force.</summary>
    public bool Dynamic { get; init; }

    /// <summary>Committed KRAFT_VOTERS batches (distinct offsets).</summary>
    public int VoterChanges => _voterChanges.Count;

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
                if (!n.IsVoter && !Dynamic) fail($"observer {n.Id} became leader");
                if (_leaderOfEpoch.TryGetValue(raft.Epoch, out var other) && other != n.Id)
                    fail($"two leaders in epoch {raft.Epoch}: {other} and {n.Id}");
                _leaderOfEpoch[raft.Epoch] = n.Id;
                if (Dynamic && _leaderSetKeys.Add($"{raft.Epoch}:{string.Join(",", raft.Voters.Ids)}"))
                    _leaderSets.Add((raft.Epoch, [.. raft.Voters.Ids]));
            }
            if (_lastEpoch.TryGetValue(n.Id, out var epoch) && raft.Epoch < epoch)
                fail($"node {n.Id} went from epoch {epoch} back to {raft.Epoch}");
            _lastEpoch[n.Id] = raft.Epoch;
            if (_lastHighWatermark.TryGetValue(n.Id, out var hw) && raft.HighWatermark < hw)
                fail($"node {n.Id} high watermark went from {hw} back to {raft.HighWatermark}");
            _lastHighWatermark[n.Id] = raft.HighWatermark;
        }
        foreach (var n in nodes)
            CheckStillHeld(n);
    }

    /// <summary>The last batch a node reported committed while holding it durably is still in its log
    /// (same bytes), or its log starts past it. Logs only lose suffixes, so this covers every earlier one.</summary>
    private void CheckStillHeld(SimNode n)
    {
        if (!_durableCommitted.TryGetValue(n.Id, out var held) || n.Log.StartOffset > held.LastOffset) return;
        var batches = n.Log.Batches;
        int lo = 0, hi = batches.Count - 1;
        while (lo <= hi)
        {
            int mid = (lo + hi) / 2;
            if (batches[mid].BaseOffset < held.BaseOffset) lo = mid + 1;
            else if (batches[mid].BaseOffset > held.BaseOffset) hi = mid - 1;
            else if (batches[mid].LastOffset == held.LastOffset && batches[mid].Bytes.AsSpan().SequenceEqual(held.Bytes)) return;
            else break;
        }
        fail($"node {n.Id} reported batch {held.BaseOffset}-{held.LastOffset} committed and held it durably, but its log (start {n.Log.StartOffset}, end {n.Log.EndOffset}, " +
            $"flushed {n.Log.FlushedOffset}, last epoch {n.Log.LastEpoch}) no longer has it");
    }

    /// <summary>A node's state machine reached <paramref name="digest"/> at <paramref name="offset"/>:
    /// it must be what any node reached there. A snapshot load must land on a state some node reached
    /// by applying batches (whoever wrote the snapshot did).</summary>
    public void StateReached(SimNode node, long offset, StateDigest digest, bool fromSnapshot)
    {
        if (_stateAt.TryGetValue(offset, out var expected))
        {
            if (expected != digest)
                fail($"node {node.Id} reached state {digest} at offset {offset}{(fromSnapshot ? " by loading a snapshot" : "")}, but the committed sequence gives {expected}");
        }
        else if (fromSnapshot) fail($"node {node.Id} loaded a snapshot at {offset}, a state no node reached by applying batches");
        else _stateAt[offset] = digest;
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

        if (batch.IsControl && IsVoterChange(bytes)) _voterChanges.Add(batch.BaseOffset);
        // The reporter must keep the batch from now on if it holds it durably. (Only the reporter: a
        // node that holds it but is still in an older epoch may be told by a stale leader of that
        // epoch to truncate it — it is not among those whose copies committed it.)
        if (reporter.Log.StartOffset <= batch.LastOffset && reporter.Log.FlushedOffset > batch.LastOffset)
        {
            var held = reporter.Log.Batches.FirstOrDefault(b => b.BaseOffset == batch.BaseOffset);
            if (held.Bytes is not null && held.Bytes.AsSpan().SequenceEqual(bytes)) _durableCommitted[reporter.Id] = (batch.BaseOffset, batch.LastOffset, bytes);
        }
        // Static: the configured voters. Dynamic: the batch was committed by a leader of its epoch or a
        // later one, counting the voter set in force on that leader then — so it must be durable on a
        // majority of the reporter's set or of a set some such leader had in force.
        if (!Dynamic)
        {
            CheckDurable(batch, bytes, reporter, nodes, voterIds);
            return;
        }
        string? failure = null;
        foreach (var set in _leaderSets.Where(s => s.Epoch >= batch.Epoch).Select(s => s.Voters).Prepend([.. reporter.Raft!.Voters.Ids]))
        {
            failure = CheckDurable(batch, bytes, reporter, nodes, set, report: false);
            if (failure is null) return;
        }
        fail(failure ?? $"batch {batch.BaseOffset} reported committed by {reporter.Id}, but no voter set is known");
    }

    private string? CheckDurable(CommittedBatch batch, byte[] bytes, SimNode reporter, IReadOnlyList<SimNode> nodes, int[] voters, bool report = true)
    {
        int durable = 0;
        foreach (var n in nodes.Where(n => voters.Contains(n.Id)))
        {
            if (n.Log.StartOffset > batch.LastOffset)
            {
                durable++; // in the snapshot the log starts after: durable, and committed
                continue;
            }
            if (n.Log.FlushedOffset <= batch.LastOffset) continue;
            var held = n.Log.Batches.FirstOrDefault(b => b.BaseOffset == batch.BaseOffset);
            if (held.Bytes is not null && held.Bytes.AsSpan().SequenceEqual(bytes)) durable++;
        }
        if (durable > voters.Length / 2) return null;
        var what = $"batch {batch.BaseOffset}-{batch.LastOffset} reported committed by {reporter.Id} but durable on only {durable} of {voters.Length} voters [{string.Join(",", voters)}]";
        if (report) fail(what);
        return what;
    }

    private static bool IsVoterChange(byte[] bytes)
    {
        var reader = new Fjord.Protocol.Records.RecordBatchReader(bytes);
        while (reader.MoveNext())
        {
            using var records = reader.Current.OpenRecords(1 << 20);
            foreach (var record in records)
                if (record.Key.Length >= 4 && Fjord.Protocol.Records.ControlRecordKey.Read(record.KeySpan).Type == Fjord.Protocol.Records.ControlRecordType.KRaftVoters)
                    return true;
        }
        return false;
    }
}
