namespace Fjord.Raft;

/// <summary>
/// A real election in <see cref="EpochState.Epoch"/> (already persisted with a vote for
/// ourselves). A majority of grants makes us Leader. When the election times out or a majority
/// rejects us, the candidate backs off for a random time and then goes Prospective again.
/// </summary>
internal sealed class CandidateState : EpochState
{
    private readonly int _localId;

    public CandidateState(int epoch, IReadOnlySet<int> voters, int localId, long electionDeadline, int retries) : base(epoch)
    {
        _localId = localId;
        Tally = new VoteTally(voters, localId);
        ElectionDeadline = electionDeadline;
        Retries = retries;
    }

    public override RaftRole Role => RaftRole.Candidate;
    public override int? VotedId => _localId;

    public VoteTally Tally { get; }
    public long ElectionDeadline { get; }
    public int Retries { get; }

    /// <summary>Set once the election is lost or timed out: when Prospective starts again.</summary>
    public long? BackoffDeadline { get; private set; }

    public void StartBackoff(long deadline) => BackoffDeadline ??= deadline;

    /// <summary>Pre-votes: a candidate has no leader to defend. Real votes: it voted for itself.</summary>
    public override bool CanGrantVote(int candidateId, bool isLogUpToDate, bool isPreVote, long now) => isPreVote && isLogUpToDate;
}
