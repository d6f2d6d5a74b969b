using Fjord.Common;
using Fjord.Protocol.Messages;

namespace Fjord.Raft;

/// <summary>Vote (real and KIP-996 pre-vote): answering requests, counting answers.</summary>
public sealed partial class RaftNode
{
    /// <summary>
    /// A real vote for a higher epoch first moves us to Unattached(that epoch); then the current
    /// role decides (at most one vote per epoch, only to an up-to-date candidate) and a granted vote
    /// is written before the answer is queued. A pre-vote asks about the candidate's epoch + 1 and
    /// changes nothing here: it is granted when that epoch is newer than ours, the candidate's log
    /// is at least as up to date, and we have no live leader (the role decides). Observers never
    /// grant.
    /// </summary>
    private VoteResponse HandleVoteRequest(VoteRequest request, long now)
    {
        if (!ClusterMatches(request.ClusterId)) return new VoteResponse { ErrorCode = RaftRpc.Code(ErrorCode.InconsistentClusterId) };
        if (RaftRpc.Single(request) is not { } p) return new VoteResponse { ErrorCode = RaftRpc.Code(ErrorCode.InvalidRequest) };

        int candidate = p.ReplicaId, epoch = p.ReplicaEpoch;
        if (p.LastOffset < 0 || p.LastOffsetEpoch < 0 || p.LastOffsetEpoch >= epoch) return VoteReply(ErrorCode.InvalidRequest, false);
        if (!p.VoterDirectoryId.IsZero && !_membership.DirectoryId.IsZero && p.VoterDirectoryId != _membership.DirectoryId)
            return VoteReply(ErrorCode.InvalidVoterKey, false);
        // Static quorum: the candidate must be a voter. Dynamic: our set may be behind the candidate's
        // (Raft's rule: answer without consulting the configuration), but a known voter id with another
        // directory id is a different replica, which cannot stand.
        bool candidateKnown = Dynamic
            ? _quorum.VoterSet.Find(candidate) is not { } known || known.Key.Matches(new ReplicaKey(candidate, p.ReplicaDirectoryId))
            : _quorum.Voters.Contains(candidate);
        // A replica outside its own (possibly stale) set still answers in a dynamic quorum: the candidate
        // counts only the voters of its set, which may include this replica (Raft: RPCs are answered
        // without consulting the configuration).
        if (!IsVoter && !Dynamic || candidate == NodeId || candidate < 0 || !candidateKnown) return VoteReply(ErrorCode.None, false);
        if (epoch < Epoch) return VoteReply(ErrorCode.FencedLeaderEpoch, false);

        if (!p.PreVote && epoch > Epoch) _quorum.ToUnattached(epoch, now);
        bool upToDate = new OffsetAndEpoch(p.LastOffset, p.LastOffsetEpoch).CompareTo(LogEnd) >= 0;
        bool granted;
        if (p.PreVote)
        {
            granted = epoch > Epoch && _quorum.State.CanGrantVote(candidate, upToDate, isPreVote: true, now);
            if (granted && _quorum.State is ProspectiveState prospective) prospective.PreVoteGranted(candidate, NodeId);
        }
        else
        {
            granted = _quorum.State.CanGrantVote(candidate, upToDate, isPreVote: false, now);
            if (granted && _quorum.State.VotedId is null) _quorum.GrantVote(epoch, candidate, now);
        }
        _trace?.Invoke($"t={now} {(p.PreVote ? "pre-vote" : "vote")} for {candidate} in epoch {epoch} {(granted ? "granted" : "rejected")} (its log {p.LastOffsetEpoch}:{p.LastOffset}, ours {LogEnd.Epoch}:{LogEnd.Offset})");
        return VoteReply(ErrorCode.None, granted);
    }

    private VoteResponse VoteReply(ErrorCode error, bool granted) => RaftRpc.VoteResponse(error, Epoch, _quorum.State.LeaderId, granted);

    /// <summary>
    /// Pre-vote answers count for a Prospective whatever epoch the voter is at (voters do not move
    /// to the epoch a pre-vote asks about). Real-vote answers count for a Candidate only when they
    /// carry its epoch: a voter that granted has moved to it, so nothing else can be a grant.
    /// </summary>
    private void HandleVoteResponse(int source, VoteResponse response, RequestTracker.Entry sent, long now)
    {
        if (response.ErrorCode != 0 || RaftRpc.Single(response) is not { } p)
        {
            _requests.BackOff(source, now);
            return;
        }
        var error = (ErrorCode)p.ErrorCode;
        int? leader = RaftRpc.OptionalLeader(p.LeaderId);
        if (p.LeaderEpoch > Epoch || p.LeaderEpoch == Epoch && leader is not null && _quorum.State.LeaderId is null)
        {
            MaybeTransition(leader, p.LeaderEpoch, now);
            return;
        }
        if (error != ErrorCode.None)
        {
            _requests.BackOff(source, now);
            return;
        }
        switch (_quorum.State)
        {
            case ProspectiveState prospective when sent.PreVote:
                if (p.VoteGranted) prospective.Tally.RecordGranted(source);
                else prospective.Tally.RecordRejected(source);
                break;
            case CandidateState candidate when !sent.PreVote && p.LeaderEpoch == candidate.Epoch:
                if (p.VoteGranted) candidate.Tally.RecordGranted(source);
                else candidate.Tally.RecordRejected(source);
                break;
        }
    }
}
