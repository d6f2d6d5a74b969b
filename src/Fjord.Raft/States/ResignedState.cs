namespace Fjord.Raft;

/// <summary>
/// A leader that stepped down (graceful resignation, failed check-quorum, or a restart of a node
/// that was leader). It keeps its epoch and its claim to it — it may not vote for anyone else in
/// it — sends EndQuorumEpoch to the other voters until they acknowledge, answers fetches with
/// NOT_LEADER_OR_FOLLOWER, and when its election timeout expires moves to Unattached(epoch + 1).
/// </summary>
internal sealed class ResignedState : EpochState
{
    private readonly int _localId;
    private readonly HashSet<int> _unacknowledged;

    public ResignedState(int epoch, int localId, IReadOnlySet<int> voters, IReadOnlyList<int> preferredSuccessors, long electionDeadline) : base(epoch)
    {
        _localId = localId;
        PreferredSuccessors = preferredSuccessors;
        ElectionDeadline = electionDeadline;
        _unacknowledged = [.. voters.Where(v => v != localId)];
    }

    public override RaftRole Role => RaftRole.Resigned;
    public override int? LeaderId => _localId;
    public override int? VotedId => _localId;

    /// <summary>Other voters, most caught up first.</summary>
    public IReadOnlyList<int> PreferredSuccessors { get; }
    public long ElectionDeadline { get; }

    /// <summary>Voters that have not acknowledged EndQuorumEpoch, in id order.</summary>
    public IEnumerable<int> Unacknowledged => _unacknowledged.Order();
    public void Acknowledge(int voterId) => _unacknowledged.Remove(voterId);

    /// <summary>It wants a successor: pre-votes are granted to up-to-date voters; real votes in
    /// its own epoch never (it was that epoch's leader).</summary>
    public override bool CanGrantVote(int candidateId, bool isLogUpToDate, bool isPreVote, long now) => isPreVote && isLogUpToDate;
}
