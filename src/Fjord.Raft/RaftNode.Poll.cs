namespace Fjord.Raft;

/// <summary>Per-role timers and sends, run by every settle step.</summary>
public sealed partial class RaftNode
{
    private void PollRole(long now)
    {
        _requests.Expire(now);
        switch (_quorum.State)
        {
            case LeaderState leader: PollLeader(leader, now); break;
            case CandidateState candidate: PollCandidate(candidate, now); break;
            case ProspectiveState prospective: PollProspective(prospective, now); break;
            case FollowerState follower: PollFollower(follower, now); break;
            case ResignedState resigned: PollResigned(resigned, now); break;
            case UnattachedState unattached: PollUnattached(unattached, now); break;
        }
    }

    private void PollUnattached(UnattachedState state, long now)
    {
        if (IsVoter)
        {
            if (_quorum.IsSoleVoter || now >= state.ElectionDeadline) _quorum.ToProspective(now);
        }
        else if (_requests.IsIdle)
        {
            // An observer with no leader asks the voters in turn; answers name the leader.
            SendFetch(NextDiscoveryTarget(ref _discoveryCursor), now);
        }
    }

    private int NextDiscoveryTarget(ref int cursor)
    {
        var voters = _quorum.Voters;
        int target = voters.ElementAt((int)((uint)cursor % (uint)voters.Count));
        cursor++;
        return target;
    }

    private void PollProspective(ProspectiveState state, long now)
    {
        if (state.Tally.IsWon)
        {
            _quorum.ToCandidate(now);
            return;
        }
        if (state.Tally.IsLost || now >= state.ElectionDeadline)
        {
            _trace?.Invoke($"t={now} pre-vote for epoch {state.ProposedEpoch} lost: {state.Tally}");
            if (state.LeaderId is { } leader && leader != NodeId) _quorum.ToFollower(state.Epoch, leader, now);
            else _quorum.ToUnattachedAfterLostPreVote(now);
            return;
        }
        SendVoteRequests(state.Tally, state.ProposedEpoch, preVote: true, now);
    }

    private void PollCandidate(CandidateState state, long now)
    {
        if (state.Tally.IsWon)
        {
            BecomeLeader(now);
            return;
        }
        if (state.BackoffDeadline is null && (state.Tally.IsLost || now >= state.ElectionDeadline))
        {
            int backoffMs = _quorum.RandomElectionBackoffMs(state.Retries);
            _trace?.Invoke($"t={now} election for epoch {state.Epoch} {(state.Tally.IsLost ? "lost" : "timed out")} ({state.Tally}); backing off {backoffMs} ms");
            state.StartBackoff(now + backoffMs);
        }
        if (state.BackoffDeadline is { } backoff)
        {
            if (now >= backoff) _quorum.ToProspective(now);
            return;
        }
        SendVoteRequests(state.Tally, state.Epoch, preVote: false, now);
    }

    private void PollLeader(LeaderState state, long now)
    {
        if (state.HasCheckQuorumFailed(now))
        {
            _trace?.Invoke($"t={now} check-quorum failed: no majority fetched within {_config.FetchTimeoutMs * 3 / 2} ms");
            _quorum.ToResigned(state.PreferredSuccessors(), now);
            return;
        }
        ExpireParkedFetches(now);
        foreach (var voter in state.Unacknowledged)
            if (_requests.CanSend(voter, now))
                SendRequest(voter, RaftRpc.BeginQuorumEpochRequest(_clusterId, voter, NodeId, state.Epoch), now);
    }

    private void PollFollower(FollowerState state, long now)
    {
        bool timedOut = state.HasFetchTimedOut(now);
        if (IsVoter && timedOut)
        {
            _trace?.Invoke($"t={now} fetch timeout: no answer from leader {state.LeaderId}");
            _quorum.ToProspective(now);
            return;
        }
        if (!_requests.IsIdle) return;
        // An observer whose leader stopped answering keeps following it but asks the voters in
        // turn (the leader among them), so that a newer leader is found.
        int target = timedOut ? NextDiscoveryTarget(ref _discoveryCursor) : state.Leader;
        SendFetch(target, now);
    }

    private void PollResigned(ResignedState state, long now)
    {
        if (_quorum.IsSoleVoter || now >= state.ElectionDeadline)
        {
            _quorum.ToUnattached(state.Epoch + 1, now, electionDeadline: now);
            return;
        }
        foreach (var voter in state.Unacknowledged)
            if (_requests.CanSend(voter, now))
                SendRequest(voter, RaftRpc.EndQuorumEpochRequest(_clusterId, NodeId, state.Epoch, state.PreferredSuccessors), now);
    }

    private void SendVoteRequests(VoteTally tally, int replicaEpoch, bool preVote, long now)
    {
        foreach (var voter in tally.Unrecorded)
            if (voter != NodeId && _requests.CanSend(voter, now))
                SendRequest(voter, RaftRpc.VoteRequest(_clusterId, voter, replicaEpoch, NodeId, LogEnd, preVote), now, preVote);
    }
}
