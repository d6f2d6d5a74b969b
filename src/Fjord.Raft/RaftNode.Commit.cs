using Fjord.Common;
using Fjord.Protocol.Messages;
using Fjord.Protocol.Records;

namespace Fjord.Raft;

/// <summary>The high watermark, delivery of committed batches, and DescribeQuorum.</summary>
public sealed partial class RaftNode
{
    /// <summary>
    /// Raises the node's high watermark (never lowers it) and queues every batch now wholly below
    /// it, read back from the log, for <see cref="DrainCommitted"/>: in offset order, each once per
    /// instance. A new instance starts from the log start (after loading the snapshot there), so
    /// after a restart the consumer sees batches again that it saw before the crash.
    /// </summary>
    private void AdvanceHighWatermark(long highWatermark)
    {
        if (highWatermark <= _highWatermark) return;
        if (highWatermark > _log.EndOffset)
            throw new InvalidOperationException($"node {NodeId}: high watermark {highWatermark} beyond the log end {_log.EndOffset}");
        _highWatermark = highWatermark;
        _history.TrimBelow(highWatermark);
        if (Dynamic) _quorum.CommittedVoterSet = _history.InForceBefore(highWatermark).Voters;
        if (_nextDelivery < _log.StartOffset) QueueSnapshotLoad(_log.LatestSnapshotId!.Value);
        while (_nextDelivery < _highWatermark)
        {
            long before = _nextDelivery;
            // Read hands over a buffer of its own: each committed batch is a slice of it, not a copy.
            var reader = new RecordBatchReader(_log.Read(_nextDelivery, _config.FetchMaxBytes, _highWatermark));
            while (reader.MoveNext())
            {
                var batch = reader.Current;
                if (batch.LastOffset < _nextDelivery) continue;
                if (batch.BaseOffset != _nextDelivery || batch.LastOffset >= _highWatermark) break;
                _committed.Add(new CommittedBatch(batch.BaseOffset, batch.LastOffset, batch.PartitionLeaderEpoch, batch.MaxTimestamp,
                    batch.IsControl, batch.Bytes));
                _nextDelivery = batch.LastOffset + 1;
            }
            if (_nextDelivery == before) break; // the next batch ends past the high watermark: later
        }
    }

    /// <summary>
    /// The leader's view of the quorum (leader, epoch, high watermark or -1 while unknown; every
    /// voter and recent observer with its log end offset, last fetch and last caught-up times).
    /// Any other node answers NOT_LEADER_OR_FOLLOWER (top level and partition) with the leader and
    /// epoch it knows.
    /// </summary>
    public DescribeQuorumResponse DescribeQuorum(long now)
    {
        var partition = new DescribeQuorumResponse.PartitionData
        {
            PartitionIndex = RaftRpc.PartitionIndex,
            LeaderId = RaftRpc.LeaderOrNone(_quorum.State.LeaderId),
            LeaderEpoch = Epoch,
            HighWatermark = -1,
        };
        var response = new DescribeQuorumResponse
        {
            Topics = [new DescribeQuorumResponse.TopicData { TopicName = RaftRpc.TopicName, Partitions = [partition] }],
        };
        if (_quorum.State is not LeaderState leader)
        {
            response.ErrorCode = partition.ErrorCode = RaftRpc.Code(ErrorCode.NotLeaderOrFollower);
            response.ErrorMessage = partition.ErrorMessage = ErrorCode.NotLeaderOrFollower.Describe();
            return response;
        }
        partition.HighWatermark = leader.HighWatermark ?? -1;
        partition.CurrentVoters = [.. leader.Voters.Select(v => v.ReplicaId == NodeId ? Self() : Describe(v))];
        partition.Observers = [.. leader.Observers(now).Select(v => v.ReplicaId == NodeId ? Self() : Describe(v))];
        // v2: where each voter is reached, as the voter set says (a static set knows no endpoints: the
        // driver fills them from its configuration).
        foreach (var voter in _history.Voters.Voters.Where(v => v.Endpoints.Count > 0))
            response.Nodes.Add(new DescribeQuorumResponse.Node
            {
                NodeId = voter.Id,
                Listeners = [.. voter.Endpoints.Select(e => new DescribeQuorumResponse.Listener { Name = e.Name, Host = e.Host, Port = (ushort)e.Port })],
            });
        return response;

        DescribeQuorumResponse.ReplicaState Self() => new()
        {
            ReplicaId = NodeId, ReplicaDirectoryId = _membership.DirectoryId, LogEndOffset = _log.EndOffset, LastFetchTimestamp = now, LastCaughtUpTimestamp = now,
        };
    }

    private static DescribeQuorumResponse.ReplicaState Describe(ReplicaProgress replica) => new()
    {
        ReplicaId = replica.ReplicaId,
        ReplicaDirectoryId = replica.Key.DirectoryId,
        LogEndOffset = replica.EndOffset,
        LastFetchTimestamp = replica.LastFetchTimestamp,
        LastCaughtUpTimestamp = replica.LastCaughtUpTimestamp,
    };
}
