namespace Fjord.Raft;

/// <summary>
/// Owns the node's role and performs every transition between roles (docs/raft.md). A transition
/// that changes what must survive a crash (epoch, vote, leader) is written through
/// <see cref="IQuorumStateStore"/> before the new state takes effect, so nothing that depends on it
/// can be sent earlier. Prospective and Resigned change nothing durable and are not written.
/// </summary>
/// <remarks>
/// Transitions (voters):
/// <code>
/// start      → Unattached(log's last epoch) if the stored epoch is older than the log (written);
///              Resigned(e)    if the store says we led e (never Leader after a restart);
///              Candidate(e)   if we voted for ourselves in e and know no leader;
///              Follower(e, l) if the store names leader l;
///              Unattached(e, voted?) otherwise (epoch 0 with an empty store).
/// Unattached → Prospective    election timeout
///            → Unattached     a real vote granted in this epoch (same epoch, vote written)
///            → Unattached     a higher epoch without a known leader
///            → Follower       a leader of this or a higher epoch is named
/// Prospective→ Candidate      a majority of pre-votes granted (epoch + 1 and self-vote written)
///            → Follower       lost (majority rejected) or timed out, knowing this epoch's leader
///            → Unattached     lost or timed out without a known leader (same epoch, vote kept)
///            → Unattached     a real vote granted in this epoch (vote written)
///            → Unattached / Follower  a higher epoch, or this epoch's leader named when none was known
/// Candidate  → Leader         a majority of votes (leader written)
///            → Prospective    election timeout or lost, after a random backoff
///            → Unattached / Follower  a higher epoch, or this epoch's leader named
/// Leader     → Resigned       Resign() or check-quorum failure (not written: the store already names us)
///            → Unattached / Follower  a higher epoch
/// Follower   → Prospective    fetch timeout
///            → Unattached / Follower  a higher epoch
/// Resigned   → Unattached(e + 1)  election timeout (written; as Kafka, so it never answers as e's leader again)
///            → Unattached / Follower  a higher epoch
/// </code>
/// Observers only ever move between Unattached and Follower (higher epoch, leader named).
/// Epochs never decrease; every method throws <see cref="InvalidOperationException"/> on a
/// transition the list above does not allow.
/// </remarks>
internal sealed class QuorumState
{
    private readonly RaftConfig _config;
    private readonly IQuorumStateStore _store;
    private readonly Random _random;
    private readonly Action<string>? _trace;
    private ElectionState? _persisted;

    public QuorumState(RaftConfig config, int localId, IReadOnlySet<int> voters, IQuorumStateStore store, Random random, Action<string>? trace)
        : this(config, ReplicaKey.Of(localId), VoterSet.Static(voters), store, random, trace)
    {
    }

    public QuorumState(RaftConfig config, ReplicaKey localKey, VoterSet voters, IQuorumStateStore store, Random random, Action<string>? trace)
    {
        _config = config;
        LocalKey = localKey;
        VoterSet = voters;
        _store = store;
        _random = random;
        _trace = trace;
        State = new UnattachedState(0, null, long.MaxValue);
    }

    public ReplicaKey LocalKey { get; }
    public int LocalId => LocalKey.Id;

    /// <summary>The voter set in force (KIP-853: it changes as the log does; the node sets it).</summary>
    public VoterSet VoterSet { get; set; }

    /// <summary>Dynamic quorum: a leader, candidate or leader-to-follow need not be in this node's
    /// (possibly stale) voter set; a static one insists that it is.</summary>
    public bool Dynamic { get; init; }

    /// <summary>The latest committed voter set (dynamic quorums; the node keeps it current).</summary>
    public VoterSet? CommittedVoterSet { get; set; }

    public IReadOnlySet<int> Voters => VoterSet.Ids;

    /// <summary>Whether this node acts as a voter: it is in the set in force, or — dynamic quorums — in
    /// the committed set while a change removing it is not committed yet (Raft's rule: it may still be
    /// needed to commit that change, so it still votes and stands; it counts only the votes of the set
    /// in force, itself included only when it is in it).</summary>
    public bool IsVoter => VoterSet.IsVoter(LocalKey) || Dynamic && CommittedVoterSet is { } committed && committed.IsVoter(LocalKey);
    public bool IsSoleVoter => IsVoter && VoterSet.Count == 1;
    public EpochState State { get; private set; }
    public int Epoch => State.Epoch;

    /// <summary>Whether <paramref name="id"/> may be named leader (or be voted for) here.</summary>
    public bool MayLead(int id) => id >= 0 && (Dynamic || Voters.Contains(id));

    /// <summary>Counts transitions, so the node can tell that the role changed under it.</summary>
    public long Version { get; private set; }

    public void Initialize(int logLastEpoch, long now)
    {
        // An empty store means epoch 0 with no vote and no leader: nothing to write for that.
        var election = _persisted = _store.Read() ?? new ElectionState(0, null, Fjord.Common.Uuid.Zero, null);
        if (election.Epoch < logLastEpoch)
        {
            _trace?.Invoke($"stored epoch {election.Epoch} is older than the log's last epoch {logLastEpoch}");
            Durable(new UnattachedState(logLastEpoch, null, ElectionDeadline(now)), now);
        }
        else if (election.LeaderId == LocalId)
        {
            if (IsVoter) Memory(new ResignedState(election.Epoch, LocalId, Voters, [], now + RandomElectionTimeoutMs()), now);
            else Durable(new UnattachedState(election.Epoch + 1, null, long.MaxValue), now);
        }
        else if (election.VotedId == LocalId && election.LeaderId is null && IsVoter)
            Memory(new CandidateState(election.Epoch, Voters, LocalId, now + RandomElectionTimeoutMs(), 1), now);
        else if (election.LeaderId is { } leader && MayLead(leader))
            Memory(new FollowerState(election.Epoch, leader, election.VotedId, _config.FetchTimeoutMs, now), now);
        else
            Memory(new UnattachedState(election.Epoch, IsVoter ? election.VotedId : null, ElectionDeadline(now)), now);
    }

    /// <summary>A higher epoch with no known leader (any role), or Resigned's timeout (epoch + 1).
    /// As in Kafka, a running election timer (Unattached, Prospective, Candidate) keeps its
    /// deadline, so hearing of new epochs does not postpone our own election indefinitely.</summary>
    public void ToUnattached(int epoch, long now, long? electionDeadline = null)
    {
        if (epoch <= Epoch) Invalid($"Unattached({epoch})");
        long deadline = !IsVoter ? long.MaxValue : electionDeadline ?? State switch
        {
            UnattachedState u => u.ElectionDeadline,
            ProspectiveState p => p.ElectionDeadline,
            CandidateState c => c.BackoffDeadline ?? c.ElectionDeadline,
            _ => ElectionDeadline(now),
        };
        Durable(new UnattachedState(epoch, null, deadline), now);
    }

    /// <summary>A lost or timed-out pre-election with no known leader: same epoch, vote kept.</summary>
    public void ToUnattachedAfterLostPreVote(long now)
    {
        if (State is not ProspectiveState p || p.LeaderId is not null) Invalid("Unattached after a lost pre-vote");
        Durable(new UnattachedState(Epoch, State.VotedId, ElectionDeadline(now)), now);
    }

    /// <summary>Grants a real vote in the current epoch (the vote is written before anything is sent).</summary>
    public void GrantVote(int epoch, int candidateId, long now)
    {
        bool allowed = (IsVoter || Dynamic) && epoch == Epoch && candidateId != LocalId && MayLead(candidateId) && State.VotedId is null
            && State.LeaderId is null && State is UnattachedState or ProspectiveState;
        if (!allowed) Invalid($"a vote for {candidateId} in epoch {epoch}");
        Durable(new UnattachedState(epoch, candidateId, ElectionDeadline(now)), now);
    }

    public void ToFollower(int epoch, int leaderId, long now)
    {
        if (leaderId == LocalId || !MayLead(leaderId)) Invalid($"Follower({epoch}, leader {leaderId})");
        if (epoch < Epoch) Invalid($"Follower({epoch}, leader {leaderId})");
        if (epoch == Epoch && (State is FollowerState or LeaderState or ResignedState || State.LeaderId is { } known && known != leaderId))
            Invalid($"Follower({epoch}, leader {leaderId})");
        int? voted = epoch == Epoch ? State.VotedId : null;
        Durable(new FollowerState(epoch, leaderId, voted, _config.FetchTimeoutMs, now), now);
    }

    public void ToProspective(long now)
    {
        if (!IsVoter || State is not (UnattachedState or FollowerState or CandidateState)) Invalid("Prospective");
        int retries = State is CandidateState c ? c.Retries + 1 : 1;
        Memory(new ProspectiveState(Epoch, State.VotedId, State.LeaderId, Voters, LocalId, now + RandomElectionTimeoutMs(), retries), now);
    }

    public void ToCandidate(long now)
    {
        if (!IsVoter || State is not ProspectiveState { Tally.IsWon: true } p) Invalid("Candidate");
        else Durable(new CandidateState(Epoch + 1, Voters, LocalId, now + RandomElectionTimeoutMs(), p.Retries), now);
    }

    public LeaderState ToLeader(long epochStartOffset, long now)
    {
        if (!IsVoter || State is not CandidateState { Tally.IsWon: true } c) throw Invalid("Leader");
        var leader = new LeaderState(Epoch, LocalKey, VoterSet, c.Tally.Granted, epochStartOffset, _config.FetchTimeoutMs, now);
        Durable(leader, now);
        return leader;
    }

    public ResignedState ToResigned(IReadOnlyList<int> preferredSuccessors, long now)
    {
        if (State is not LeaderState) throw Invalid("Resigned");
        var resigned = new ResignedState(Epoch, LocalId, Voters, preferredSuccessors, now + RandomElectionTimeoutMs());
        Memory(resigned, now);
        return resigned;
    }

    /// <summary>Kafka's randomized election timeout, uniform in [T, 2T).</summary>
    public int RandomElectionTimeoutMs()
    {
        int t = _config.ElectionTimeoutMs;
        return t <= 0 ? 0 : t + _random.Next(t);
    }

    /// <summary>Random backoff before a lost candidate retries: uniform in [0, min(max, 50·2^retries)].</summary>
    public int RandomElectionBackoffMs(int retries)
    {
        long cap = Math.Min(_config.ElectionBackoffMaxMs, 50L << Math.Clamp(retries, 0, 20));
        return cap <= 0 ? 0 : _random.Next((int)cap + 1);
    }

    private long ElectionDeadline(long now) => IsVoter ? now + RandomElectionTimeoutMs() : long.MaxValue;

    private void Durable(EpochState next, long now)
    {
        var election = next.Election;
        if (_persisted != election)
        {
            _store.Write(election);
            _persisted = election;
        }
        Memory(next, now);
    }

    private void Memory(EpochState next, long now)
    {
        if (next.Epoch < State.Epoch) throw new InvalidOperationException($"epoch would go back from {State.Epoch} to {next.Epoch}");
        _trace?.Invoke($"t={now} {State} → {next}");
        State = next;
        Version++;
    }

    private InvalidOperationException Invalid(string target) =>
        throw new InvalidOperationException($"node {LocalId}: invalid transition from {State} to {target}");
}
