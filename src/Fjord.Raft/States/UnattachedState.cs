namespace Fjord.Raft;

/// <summary>
/// No known leader in <see cref="EpochState.Epoch"/>. A voter waits for its election timeout
/// (then goes Prospective) and grants at most one vote in the epoch; an observer has no election
/// timeout and searches for the leader by fetching from the voters in turn.
/// </summary>
internal sealed class UnattachedState(int epoch, int? votedId, long electionDeadline) : EpochState(epoch)
{
    public override RaftRole Role => RaftRole.Unattached;
    public override int? VotedId => votedId;

    /// <summary>When a voter starts an election (long.MaxValue for observers).</summary>
    public long ElectionDeadline { get; } = electionDeadline;

    public override bool CanGrantVote(int candidateId, bool isLogUpToDate, bool isPreVote, long now)
    {
        if (isPreVote) return isLogUpToDate;
        return votedId is { } voted ? voted == candidateId : isLogUpToDate;
    }
}
