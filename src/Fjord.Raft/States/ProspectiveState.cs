namespace Fjord.Raft;

/// <summary>
/// KIP-996 pre-election in <see cref="EpochState.Epoch"/>: asks the voters whether they would
/// vote for us in epoch + 1, without persisting anything. A majority of grants leads to Candidate;
/// a majority of rejections or the election timeout leads back to Follower (when a leader of this
/// epoch is known) or Unattached. Keeps the vote and leader known in this epoch so that it can
/// neither vote twice nor vote against a leader it knows was elected.
/// <para>Split-vote avoidance: when two voters lose their leader at the same moment (one append
/// answered both their fetches), each grants the other's pre-vote and both would stand in the same
/// epoch, splitting the vote and costing a randomized election timeout. A prospective that granted
/// the pre-vote of a voter with a lower id therefore defers to it: it does not stand until its own
/// election deadline, by which time the lower id has won (and our real vote went to it) or failed.
/// Safety is untouched: this only delays a candidacy.</para>
/// </summary>
internal sealed class ProspectiveState : EpochState
{
    private readonly int? _votedId;
    private readonly int? _leaderId;

    public ProspectiveState(int epoch, int? votedId, int? leaderId, IReadOnlySet<int> voters, int localId, long electionDeadline, int retries)
        : base(epoch)
    {
        _votedId = votedId;
        _leaderId = leaderId;
        Tally = new VoteTally(voters, localId);
        ElectionDeadline = electionDeadline;
        Retries = retries;
    }

    public override RaftRole Role => RaftRole.Prospective;
    public override int? VotedId => _votedId;
    public override int? LeaderId => _leaderId;

    /// <summary>The epoch the pre-vote asks about.</summary>
    public int ProposedEpoch => Epoch + 1;

    public VoteTally Tally { get; }
    public long ElectionDeadline { get; }

    /// <summary>Elections lost in a row (drives the candidate's backoff).</summary>
    public int Retries { get; }

    /// <summary>The lower-id voter whose pre-vote we granted in this state, if any: we let it stand first.</summary>
    public int? DeferringTo { get; private set; }

    /// <summary>Records that we granted <paramref name="candidateId"/>'s pre-vote; a lower id than ours is deferred to.</summary>
    public void PreVoteGranted(int candidateId, int localId)
    {
        if (candidateId < localId && (DeferringTo is null || candidateId < DeferringTo)) DeferringTo = candidateId;
    }

    public override bool CanGrantVote(int candidateId, bool isLogUpToDate, bool isPreVote, long now)
    {
        if (isPreVote) return isLogUpToDate;
        if (_votedId is { } voted) return voted == candidateId;
        return _leaderId is null && isLogUpToDate;
    }
}
