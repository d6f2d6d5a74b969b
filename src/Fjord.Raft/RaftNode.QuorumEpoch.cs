using Fjord.Common;
using Fjord.Protocol.Messages;

namespace Fjord.Raft;

/// <summary>BeginQuorumEpoch (a new leader announces itself) and EndQuorumEpoch (a leader resigns).</summary>
public sealed partial class RaftNode
{
    private BeginQuorumEpochResponse HandleBeginQuorumEpochRequest(BeginQuorumEpochRequest request, long now)
    {
        if (!ClusterMatches(request.ClusterId)) return new BeginQuorumEpochResponse { ErrorCode = RaftRpc.Code(ErrorCode.InconsistentClusterId) };
        if (RaftRpc.Single(request) is not { } p) return new BeginQuorumEpochResponse { ErrorCode = RaftRpc.Code(ErrorCode.InvalidRequest) };
        if (!_quorum.MayLead(p.LeaderId) || p.LeaderId == NodeId) return BeginReply(ErrorCode.InconsistentVoterSet);
        if (!p.VoterDirectoryId.IsZero && !_membership.DirectoryId.IsZero && p.VoterDirectoryId != _membership.DirectoryId)
            return BeginReply(ErrorCode.InvalidVoterKey);
        if (p.LeaderEpoch < Epoch) return BeginReply(ErrorCode.FencedLeaderEpoch);
        MaybeTransition(p.LeaderId, p.LeaderEpoch, now);
        return BeginReply(ErrorCode.None);
    }

    private BeginQuorumEpochResponse BeginReply(ErrorCode error) => RaftRpc.BeginQuorumEpochResponse(error, Epoch, _quorum.State.LeaderId);

    private void HandleBeginQuorumEpochResponse(int source, BeginQuorumEpochResponse response, long now)
    {
        if (response.ErrorCode == 0 && RaftRpc.Single(response) is { } p)
        {
            var error = (ErrorCode)p.ErrorCode;
            bool handled = HandleEpochOfResponse(error, RaftRpc.OptionalLeader(p.LeaderId), p.LeaderEpoch, now);
            if (!handled && error == ErrorCode.None && _quorum.State is LeaderState leader && p.LeaderEpoch == leader.Epoch)
            {
                leader.Acknowledge(source);
                return;
            }
        }
        _requests.BackOff(source, now); // not acknowledged: ask again after a pause (a role change clears this)
    }

    /// <summary>
    /// A follower of the resigning leader starts its election sooner the earlier it appears in the
    /// preferred successors (Kafka's strict exponential rule: the first at once, the others after
    /// growing fractions of ElectionBackoffMaxMs); one not in the list keeps its normal fetch
    /// timeout. Every follower of that leader stops defending it against pre-votes.
    /// </summary>
    private EndQuorumEpochResponse HandleEndQuorumEpochRequest(EndQuorumEpochRequest request, long now)
    {
        if (!ClusterMatches(request.ClusterId)) return new EndQuorumEpochResponse { ErrorCode = RaftRpc.Code(ErrorCode.InconsistentClusterId) };
        if (RaftRpc.Single(request) is not { } p) return new EndQuorumEpochResponse { ErrorCode = RaftRpc.Code(ErrorCode.InvalidRequest) };
        if (!_quorum.MayLead(p.LeaderId) || p.LeaderId == NodeId) return EndReply(ErrorCode.InconsistentVoterSet);
        if (p.LeaderEpoch < Epoch) return EndReply(ErrorCode.FencedLeaderEpoch);
        MaybeTransition(p.LeaderId, p.LeaderEpoch, now);
        if (_quorum.State is FollowerState follower && follower.Epoch == p.LeaderEpoch && follower.LeaderId == p.LeaderId)
        {
            var successors = RaftRpc.PreferredSuccessors(p);
            int position = IndexOf(successors, NodeId);
            long electionAt = IsVoter && position >= 0 ? now + StrictExponentialBackoffMs(position, successors.Count) : follower.FetchDeadline;
            _trace?.Invoke($"t={now} leader {p.LeaderId} resigned epoch {p.LeaderEpoch}; successor position {position}, election at {electionAt}");
            follower.LeaderHasResigned(electionAt);
        }
        return EndReply(ErrorCode.None);
    }

    private EndQuorumEpochResponse EndReply(ErrorCode error) => RaftRpc.EndQuorumEpochResponse(error, Epoch, _quorum.State.LeaderId);

    private void HandleEndQuorumEpochResponse(int source, EndQuorumEpochResponse response, long now)
    {
        if (response.ErrorCode == 0 && RaftRpc.Single(response) is { } p)
        {
            var error = (ErrorCode)p.ErrorCode;
            bool handled = HandleEpochOfResponse(error, RaftRpc.OptionalLeader(p.LeaderId), p.LeaderEpoch, now);
            if (!handled && error == ErrorCode.None && _quorum.State is ResignedState resigned && p.LeaderEpoch == resigned.Epoch)
            {
                resigned.Acknowledge(source);
                return;
            }
        }
        _requests.BackOff(source, now);
    }

    /// <summary>Kafka's strictExponentialElectionBackoffMs: 0 for the first successor, then
    /// max >> (n − 1), doubling with each later position, capped at ElectionBackoffMaxMs.</summary>
    internal int StrictExponentialBackoffMs(int position, int successors)
    {
        int max = _config.ElectionBackoffMaxMs;
        if (position <= 0) return 0;
        if (position >= successors) return max;
        long unit = max >> Math.Min(successors - 1, 30);
        return (int)Math.Min(max, unit << Math.Min(position - 1, 30));
    }

    private static int IndexOf(IReadOnlyList<int> list, int value)
    {
        for (int i = 0; i < list.Count; i++)
            if (list[i] == value) return i;
        return -1;
    }
}
