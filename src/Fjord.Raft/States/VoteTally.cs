namespace Fjord.Raft;

/// <summary>
/// The answers collected in one (pre-)election: the local voter grants itself; each other voter's
/// first answer counts and later contradicting ones are ignored.
/// </summary>
internal sealed class VoteTally
{
    private readonly IReadOnlySet<int> _voters;
    private readonly HashSet<int> _granted = [];
    private readonly HashSet<int> _rejected = [];

    public VoteTally(IReadOnlySet<int> voters, int localId)
    {
        _voters = voters;
        if (voters.Contains(localId)) _granted.Add(localId);
    }

    public int Majority => _voters.Count / 2 + 1;
    public bool IsWon => _granted.Count >= Majority;
    public bool IsLost => _rejected.Count > _voters.Count - Majority;
    public IReadOnlyCollection<int> Granted => _granted;

    public void RecordGranted(int voterId)
    {
        if (_voters.Contains(voterId) && !_rejected.Contains(voterId)) _granted.Add(voterId);
    }

    public void RecordRejected(int voterId)
    {
        if (_voters.Contains(voterId) && !_granted.Contains(voterId)) _rejected.Add(voterId);
    }

    /// <summary>Voters that have not answered yet, in id order.</summary>
    public IEnumerable<int> Unrecorded => _voters.Where(v => !_granted.Contains(v) && !_rejected.Contains(v));

    public override string ToString() => $"granted [{string.Join(",", _granted.Order())}], rejected [{string.Join(",", _rejected.Order())}]";
}
