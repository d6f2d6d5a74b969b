namespace Fjord.Raft;

/// <summary>
/// The elected leader of <see cref="EpochState.Epoch"/>. Tracks every replica's progress, computes
/// the high watermark, remembers which voters acknowledged BeginQuorumEpoch, and runs
/// check-quorum: unless a majority of voters (itself included) fetched within 1.5 × FetchTimeoutMs,
/// the leader must resign.
/// </summary>
/// <remarks>
/// High watermark: the largest offset a majority of voters have reached (the leader counts its
/// flushed end offset, a voter its validated fetch offset), taken only when it is past
/// <see cref="EpochStartOffset"/> — i.e. covers the LeaderChange batch of this epoch, so nothing
/// from an older epoch is committed by counting replicas (Raft §5.4.2). It never decreases.
/// </remarks>
internal sealed class LeaderState : EpochState
{
    private const long ObserverExpiryMs = 5 * 60 * 1000;

    private readonly int _localId;
    private readonly SortedDictionary<int, ReplicaProgress> _voters = [];
    private readonly SortedDictionary<int, ReplicaProgress> _observers = [];
    private readonly HashSet<int> _unacknowledged;
    private readonly HashSet<int> _fetchedSinceCheck = [];
    private readonly long _checkQuorumTimeoutMs;

    public LeaderState(int epoch, int localId, IReadOnlySet<int> voters, IReadOnlyCollection<int> grantingVoters,
        long epochStartOffset, int fetchTimeoutMs, long now) : base(epoch)
    {
        _localId = localId;
        foreach (var v in voters) _voters[v] = new ReplicaProgress(v);
        _unacknowledged = [.. voters.Where(v => v != localId)];
        GrantingVoters = [.. grantingVoters.Order()];
        EpochStartOffset = epochStartOffset;
        _checkQuorumTimeoutMs = fetchTimeoutMs * 3L / 2;
        CheckQuorumDeadline = voters.Count == 1 ? long.MaxValue : now + _checkQuorumTimeoutMs;
    }

    public override RaftRole Role => RaftRole.Leader;
    public override int? LeaderId => _localId;
    public override int? VotedId => _localId;

    public long EpochStartOffset { get; }
    public IReadOnlyList<int> GrantingVoters { get; }

    /// <summary>Null until a majority has reached past <see cref="EpochStartOffset"/>.</summary>
    public long? HighWatermark { get; private set; }

    public long CheckQuorumDeadline { get; private set; }
    public bool HasCheckQuorumFailed(long now) => now >= CheckQuorumDeadline;

    public IEnumerable<int> Unacknowledged => _unacknowledged.Order();
    public void Acknowledge(int voterId) => _unacknowledged.Remove(voterId);

    public bool IsVoter(int replicaId) => _voters.ContainsKey(replicaId);

    /// <summary>The leader's own durable end offset changed; true if the high watermark advanced.</summary>
    public bool UpdateLocalEndOffset(long flushedEndOffset, long now)
    {
        _voters[_localId].RecordLocal(flushedEndOffset, now);
        return MaybeAdvanceHighWatermark();
    }

    /// <summary>A replica fetched at a validated offset; true if the high watermark advanced.</summary>
    public bool UpdateReplica(int replicaId, long fetchOffset, long leaderEndOffset, long now)
    {
        if (_voters.TryGetValue(replicaId, out var voter))
        {
            voter.RecordFetch(fetchOffset, leaderEndOffset, now);
            return MaybeAdvanceHighWatermark();
        }
        if (!_observers.TryGetValue(replicaId, out var observer)) _observers[replicaId] = observer = new ReplicaProgress(replicaId);
        observer.RecordFetch(fetchOffset, leaderEndOffset, now);
        return false;
    }

    /// <summary>Check-quorum bookkeeping: any fetch from a voter in this epoch shows it follows us.</summary>
    public void RecordVoterFetch(int voterId, long now)
    {
        if (!_voters.ContainsKey(voterId) || voterId == _localId) return;
        _fetchedSinceCheck.Add(voterId);
        if (_fetchedSinceCheck.Count + 1 >= _voters.Count / 2 + 1)
        {
            CheckQuorumDeadline = now + _checkQuorumTimeoutMs;
            _fetchedSinceCheck.Clear();
        }
    }

    /// <summary>The other voters, most caught up first (ties by id): the preferred successors.</summary>
    public IReadOnlyList<int> PreferredSuccessors() =>
        [.. _voters.Values.Where(v => v.ReplicaId != _localId).OrderByDescending(v => v.EndOffset).ThenBy(v => v.ReplicaId).Select(v => v.ReplicaId)];

    public IEnumerable<ReplicaProgress> Voters => _voters.Values;

    public IEnumerable<ReplicaProgress> Observers(long now)
    {
        foreach (var id in _observers.Where(o => now - o.Value.LastFetchTimestamp >= ObserverExpiryMs).Select(o => o.Key).ToList())
            _observers.Remove(id);
        return _observers.Values;
    }

    public override bool CanGrantVote(int candidateId, bool isLogUpToDate, bool isPreVote, long now) => false;

    private bool MaybeAdvanceHighWatermark()
    {
        var offsets = _voters.Values.Select(v => v.EndOffset).OrderDescending().ToList();
        long candidate = offsets[_voters.Count / 2];
        if (candidate <= EpochStartOffset) return false;
        if (HighWatermark is { } current && candidate <= current) return false;
        HighWatermark = candidate;
        return true;
    }
}
