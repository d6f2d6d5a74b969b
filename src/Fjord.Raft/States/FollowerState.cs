namespace Fjord.Raft;

/// <summary>
/// Replicates from the known leader of <see cref="EpochState.Epoch"/>. A voter that has no
/// successful fetch for FetchTimeoutMs goes Prospective; an observer whose fetches time out keeps
/// following but sends its fetches to the voters in turn, to find a newer leader.
/// </summary>
internal sealed class FollowerState : EpochState
{
    private readonly int _leaderId;
    private readonly int? _votedId;
    private readonly int _fetchTimeoutMs;

    public FollowerState(int epoch, int leaderId, int? votedId, int fetchTimeoutMs, long now) : base(epoch)
    {
        _leaderId = leaderId;
        _votedId = votedId;
        _fetchTimeoutMs = fetchTimeoutMs;
        FetchDeadline = now + fetchTimeoutMs;
    }

    public override RaftRole Role => RaftRole.Follower;
    public override int? LeaderId => _leaderId;
    public int Leader => _leaderId;
    public override int? VotedId => _votedId;

    /// <summary>When the leader is presumed gone unless a fetch succeeds first.</summary>
    public long FetchDeadline { get; private set; }

    /// <summary>When the last fetch answered by the leader without error arrived.</summary>
    public long? LastSuccessfulFetch { get; private set; }

    /// <summary>The leader sent EndQuorumEpoch: it no longer leads, so there is nothing to defend.</summary>
    public bool LeaderResigned { get; private set; }

    public bool HasFetchTimedOut(long now) => now >= FetchDeadline;

    public void RecordSuccessfulFetch(long now)
    {
        LastSuccessfulFetch = now;
        if (!LeaderResigned) FetchDeadline = now + _fetchTimeoutMs;
    }

    /// <summary>EndQuorumEpoch from our leader: start an election sooner (never later).</summary>
    public void LeaderHasResigned(long electionAt)
    {
        LeaderResigned = true;
        FetchDeadline = Math.Min(FetchDeadline, electionAt);
    }

    /// <summary>A pre-vote is granted only when we have no leader we fetched from within the
    /// fetch timeout. A real vote in our own epoch never is: its leader was elected.</summary>
    public override bool CanGrantVote(int candidateId, bool isLogUpToDate, bool isPreVote, long now)
    {
        if (!isPreVote) return false;
        bool leaderLive = !LeaderResigned && LastSuccessfulFetch is { } at && now - at < _fetchTimeoutMs;
        return isLogUpToDate && !leaderLive;
    }
}
