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
        else if (_requests.IsIdle && NextDiscoveryTarget(ref _discoveryCursor) is { } target)
        {
            // An observer with no leader asks the voters (or the bootstrap servers) in turn; answers name the leader.
            SendFetch(target, now);
        }
    }

    /// <summary>The bootstrap servers when configured (KIP-853), otherwise the other voters; null when there is nobody to ask.</summary>
    private int? NextDiscoveryTarget(ref int cursor)
    {
        IReadOnlyList<int> targets = [.. _membership.BootstrapServers.Where(v => v != NodeId)];
        if (targets.Count == 0) targets = [.. _quorum.Voters.Where(v => v != NodeId)];
        if (targets.Count == 0) return null;
        int target = targets[(int)((uint)cursor % (uint)targets.Count)];
        cursor++;
        return target;
    }

    private void PollProspective(ProspectiveState state, long now)
    {
        if (state.Tally.IsWon)
        {
            // Deferring to a lower id whose pre-vote we granted (see ProspectiveState) until our deadline.
            if (state.DeferringTo is null || now >= state.ElectionDeadline) _quorum.ToCandidate(now);
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
        if (ShouldResignAfterRemoval(state))
        {
            _trace?.Invoke($"t={now} this leader's removal from the voters is committed: resigning");
            _quorum.ToResigned(state.PreferredSuccessors(), now);
            return;
        }
        ExpireParkedFetches(now);
        foreach (var voter in state.Unacknowledged)
            if (_requests.CanSend(voter, now))
                SendRequest(voter, RaftRpc.BeginQuorumEpochRequest(_clusterId, voter, NodeId, state.Epoch,
                    _history.Voters.Find(voter)?.Key.DirectoryId ?? Fjord.Common.Uuid.Zero, _membership.LocalEndpoints), now);
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
        if (timedOut)
        {
            AbandonSnapshotFetch(now);
            SendFetch(NextDiscoveryTarget(ref _discoveryCursor) ?? state.Leader, now);
        }
        else if (_snapshotFetch is { } fetch) SendFetchSnapshot(state.Leader, fetch, now);
        else if (VoterUpdateNeeded(state, now) is { } desired) SendUpdateRaftVoter(state.Leader, desired, now);
        else SendFetch(state.Leader, now);
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
                SendRequest(voter, RaftRpc.VoteRequest(_clusterId, voter, replicaEpoch, NodeId, LogEnd, preVote,
                    _membership.DirectoryId, _history.Voters.Find(voter)?.Key.DirectoryId ?? Fjord.Common.Uuid.Zero), now, preVote);
    }
}
