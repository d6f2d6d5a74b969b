using Fjord.Common;
using Fjord.Protocol.Messages;

namespace Fjord.Raft;

/// <summary>The leader's side of Fetch: validation, divergence, high watermark, long polls.</summary>
public sealed partial class RaftNode
{
    /// <summary>An empty fetch waiting for data (at most one per replica), answered at the latest at its deadline.</summary>
    private sealed record ParkedFetch(RaftMessage Request, long FetchOffset, int MaxBytes, long Deadline);

    private readonly List<ParkedFetch> _parked = [];

    private long EarliestParkedFetchDeadline => _parked.Count == 0 ? long.MaxValue : _parked.Min(f => f.Deadline);

    /// <summary>
    /// Kafka's order of checks: cluster id, request shape, epoch (lower → FENCED_LEADER_EPOCH,
    /// higher → UNKNOWN_LEADER_EPOCH, ours but not leader → NOT_LEADER_OR_FOLLOWER), then a fetch
    /// our log cannot serve because it starts later (answered with SnapshotId: load that snapshot),
    /// then divergence of the fetcher's log from ours (answered with DivergingEpoch and no records). A valid fetch
    /// offset of a voter is its durable end offset and may advance the high watermark. A fetch
    /// that finds no records and may wait is parked: until records arrive or its max wait passes,
    /// and for at most <see cref="RaftConfig.HighWatermarkLingerMs"/> when it moved the high watermark
    /// (its answer carries that news).
    /// </summary>
    private void HandleFetchRequest(RaftMessage message, FetchRequest request, long now)
    {
        if (!ClusterMatches(request.ClusterId))
        {
            Respond(message, RaftRpc.FetchError(ErrorCode.InconsistentClusterId));
            return;
        }
        if (RaftRpc.Single(request) is not { } p)
        {
            Respond(message, RaftRpc.FetchError(ErrorCode.InvalidRequest));
            return;
        }
        if (request.MaxWaitMs < 0 || p.FetchOffset < 0 || p.LastFetchedEpoch < 0 || p.LastFetchedEpoch > p.CurrentLeaderEpoch)
        {
            Respond(message, EmptyFetchResponse(ErrorCode.InvalidRequest));
            return;
        }
        var error = p.CurrentLeaderEpoch < Epoch ? ErrorCode.FencedLeaderEpoch
            : p.CurrentLeaderEpoch > Epoch ? ErrorCode.UnknownLeaderEpoch
            : _quorum.State is not LeaderState ? ErrorCode.NotLeaderOrFollower
            : ErrorCode.None;
        if (error != ErrorCode.None)
        {
            Respond(message, EmptyFetchResponse(error));
            return;
        }

        var leader = (LeaderState)_quorum.State;
        int replicaId = RaftRpc.ReplicaId(request);
        var replica = new ReplicaKey(replicaId, p.ReplicaDirectoryId);
        if (leader.IsVoter(replica) && replicaId != NodeId)
        {
            leader.RecordVoterFetch(replica, now);
            leader.Acknowledge(replicaId);
        }
        if (SnapshotNeeded(p.FetchOffset, p.LastFetchedEpoch) is { } snapshot)
        {
            Respond(message, SnapshotAnswer(leader, snapshot));
            return;
        }
        if (Divergence(p.FetchOffset, p.LastFetchedEpoch) is { } diverging)
        {
            Respond(message, RaftRpc.FetchResponse(ErrorCode.None, leader.Epoch, NodeId, leader.HighWatermark ?? -1, _log.StartOffset,
                ReadOnlyMemory<byte>.Empty, diverging, leaderEndpoint: LeaderEndpoint(NodeId)));
            return;
        }

        bool advanced = replicaId >= 0 && replicaId != NodeId && leader.UpdateReplica(replica, p.FetchOffset, _log.EndOffset, now);
        if (advanced) OnLeaderHighWatermarkAdvanced(leader, now);

        int maxBytes = MaxBytes(request.MaxBytes, p.PartitionMaxBytes);
        var records = ReadForFetch(p.FetchOffset, maxBytes);
        int wait = advanced ? Math.Min(request.MaxWaitMs, _config.HighWatermarkLingerMs) : request.MaxWaitMs;
        if (records.IsEmpty && wait > 0)
        {
            Park(message, p.FetchOffset, maxBytes, now + wait, now);
            return;
        }
        Respond(message, RaftRpc.FetchResponse(ErrorCode.None, leader.Epoch, NodeId, leader.HighWatermark ?? -1, _log.StartOffset, records,
            leaderEndpoint: LeaderEndpoint(NodeId)));
    }

    /// <summary>
    /// Where the fetcher's log stops matching ours, or null when it matches up to its fetch offset:
    /// the largest epoch ≤ its last fetched epoch that we hold, and where that epoch ends in our log.
    /// Asked only after <see cref="SnapshotNeeded"/> said no, so a fetch offset at our log start
    /// matches; when we hold no batch of an epoch that old (only possible with a log starting at 0),
    /// the answer is (epoch 0, log start): truncate everything.
    /// </summary>
    private OffsetAndEpoch? Divergence(long fetchOffset, int lastFetchedEpoch)
    {
        if (fetchOffset == _log.StartOffset) return null;
        var end = _log.EndOffsetForEpoch(lastFetchedEpoch);
        if (end.Epoch < 0) return new OffsetAndEpoch(_log.StartOffset, 0);
        if (end.Epoch != lastFetchedEpoch || end.Offset < fetchOffset) return end;
        return null;
    }

    private int MaxBytes(int requestMaxBytes, int partitionMaxBytes)
    {
        int max = _config.FetchMaxBytes;
        if (requestMaxBytes > 0) max = Math.Min(max, requestMaxBytes);
        if (partitionMaxBytes > 0) max = Math.Min(max, partitionMaxBytes);
        return max;
    }

    /// <summary>Whole batches from <paramref name="fetchOffset"/> up to the log end (unflushed ones
    /// included: a follower may hold what the leader has not flushed yet; only flushed offsets count
    /// towards the high watermark). <see cref="IRaftLog.Read"/> hands over a buffer of its own, so
    /// the response keeps it without another copy.</summary>
    private ReadOnlyMemory<byte> ReadForFetch(long fetchOffset, int maxBytes) =>
        fetchOffset >= _log.EndOffset ? ReadOnlyMemory<byte>.Empty : _log.Read(fetchOffset, maxBytes, _log.EndOffset);

    private FetchResponse SnapshotAnswer(LeaderState leader, OffsetAndEpoch snapshot) =>
        RaftRpc.FetchResponse(ErrorCode.None, leader.Epoch, NodeId, leader.HighWatermark ?? -1, _log.StartOffset, ReadOnlyMemory<byte>.Empty,
            snapshotId: snapshot, leaderEndpoint: LeaderEndpoint(NodeId));

    private FetchResponse EmptyFetchResponse(ErrorCode error) =>
        RaftRpc.FetchResponse(error, Epoch, _quorum.State.LeaderId, -1, _log.StartOffset, ReadOnlyMemory<byte>.Empty,
            leaderEndpoint: LeaderEndpoint(_quorum.State.LeaderId));

    private void Park(RaftMessage message, long fetchOffset, int maxBytes, long deadline, long now)
    {
        int earlier = _parked.FindIndex(f => f.Request.Source == message.Source);
        if (earlier >= 0)
        {
            var old = _parked[earlier];
            _parked.RemoveAt(earlier);
            AnswerParkedFetch(old, now);
        }
        _parked.Add(new ParkedFetch(message, fetchOffset, maxBytes, deadline));
    }

    private void AnswerParkedFetch(ParkedFetch fetch, long now)
    {
        if (_quorum.State is not LeaderState leader)
            Respond(fetch.Request, EmptyFetchResponse(ErrorCode.NotLeaderOrFollower));
        else if (fetch.FetchOffset < _log.StartOffset) // a snapshot of ours moved the log start past it while it waited
            Respond(fetch.Request, SnapshotAnswer(leader, _log.LatestSnapshotId!.Value));
        else
        {
            var records = ReadForFetch(fetch.FetchOffset, fetch.MaxBytes);
            Respond(fetch.Request, RaftRpc.FetchResponse(ErrorCode.None, leader.Epoch, NodeId, leader.HighWatermark ?? -1, _log.StartOffset, records,
                leaderEndpoint: LeaderEndpoint(NodeId)));
        }
        _trace?.Invoke($"t={now} answered parked fetch from {fetch.Request.Source} at {fetch.FetchOffset}");
    }

    /// <summary>New data or the end of leadership: every parked fetch is answered.</summary>
    private void CompleteAllParkedFetches(long now)
    {
        if (_parked.Count == 0) return;
        var parked = _parked.ToArray();
        _parked.Clear();
        foreach (var fetch in parked) AnswerParkedFetch(fetch, now);
    }

    private void ExpireParkedFetches(long now)
    {
        for (int i = 0; i < _parked.Count;)
        {
            if (now >= _parked[i].Deadline)
            {
                var fetch = _parked[i];
                _parked.RemoveAt(i);
                AnswerParkedFetch(fetch, now);
            }
            else i++;
        }
    }

    private void OnLeaderHighWatermarkAdvanced(LeaderState leader, long now)
    {
        AdvanceHighWatermark(leader.HighWatermark!.Value);
        CompletePendingVoterChange(now);
        AnswerParkedFetchesBy(now + _config.HighWatermarkLingerMs, now);
    }

    /// <summary>A new high watermark: every parked fetch is answered by <paramref name="deadline"/>
    /// (with whatever records have arrived by then), at once when that is now.</summary>
    private void AnswerParkedFetchesBy(long deadline, long now)
    {
        if (deadline <= now)
        {
            CompleteAllParkedFetches(now);
            return;
        }
        for (int i = 0; i < _parked.Count; i++)
            if (_parked[i].Deadline > deadline) _parked[i] = _parked[i] with { Deadline = deadline };
    }

    /// <summary>Appends as leader without flushing: the leader's own progress is its flushed end
    /// offset, which <see cref="Flush"/> advances (after the driver has sent the new data to followers).</summary>
    private void AppendAsLeader(LeaderState leader, byte[] batch) => _log.AppendAsLeader(batch, leader.Epoch);

    /// <summary>Candidate → Leader: the LEADER_CHANGE control batch opens the epoch at once, so the
    /// high watermark can advance as soon as a majority has it.</summary>
    private void BecomeLeader(long now)
    {
        var leader = _quorum.ToLeader(_log.EndOffset, now);
        _trace?.Invoke($"t={now} elected leader of epoch {leader.Epoch} by [{string.Join(",", leader.GrantingVoters)}], epoch starts at {leader.EpochStartOffset}");
        AppendAsLeader(leader, RaftBatches.LeaderChange(leader.Epoch, NodeId, _quorum.Voters, leader.GrantingVoters, now));
        if (Dynamic && _history.LatestOffset < 0 && _history.KRaftVersion >= 1) AppendBootstrapVoters(leader, now);
    }
}
