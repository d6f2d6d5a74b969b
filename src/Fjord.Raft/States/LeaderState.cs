namespace Fjord.Raft;

/// <summary>
/// The elected leader of <see cref="EpochState.Epoch"/>. Tracks every replica's progress, computes
/// the high watermark, remembers which voters acknowledged BeginQuorumEpoch, and runs
/// check-quorum: unless a majority of voters (itself included, when it is one) fetched within
/// 1.5 × FetchTimeoutMs, the leader must resign.
/// </summary>
/// <remarks>
/// High watermark: the largest offset a majority of the voter set in force has reached (the leader
/// counts its flushed end offset when it is a voter, a voter its validated fetch offset), taken only
/// when it is past <see cref="EpochStartOffset"/> — i.e. covers the LeaderChange batch of this epoch,
/// so nothing from an older epoch is committed by counting replicas (Raft §5.4.2). It never
/// decreases. The voter set may change while leading (KIP-853, <see cref="UpdateVoters"/>): from
/// then on the new set counts, including for a leader that removed itself.
/// </remarks>
internal sealed class LeaderState : EpochState
{
    private const long ObserverExpiryMs = 5 * 60 * 1000;

    private readonly ReplicaKey _localKey;
    private readonly ReplicaProgress _local;
    private readonly SortedDictionary<int, ReplicaProgress> _voters = [];
    private readonly Dictionary<ReplicaKey, ReplicaProgress> _observers = [];
    private readonly HashSet<int> _unacknowledged = [];
    private readonly HashSet<int> _fetchedSinceCheck = [];
    private readonly long _checkQuorumTimeoutMs;
    private VoterSet _voterSet = VoterSet.Empty;

    /// <summary>A leader of a static quorum (ids only).</summary>
    public LeaderState(int epoch, int localId, IReadOnlySet<int> voters, IReadOnlyCollection<int> grantingVoters,
        long epochStartOffset, int fetchTimeoutMs, long now)
        : this(epoch, ReplicaKey.Of(localId), VoterSet.Static(voters), grantingVoters, epochStartOffset, fetchTimeoutMs, now)
    {
    }

    public LeaderState(int epoch, ReplicaKey localKey, VoterSet voters, IReadOnlyCollection<int> grantingVoters,
        long epochStartOffset, int fetchTimeoutMs, long now) : base(epoch)
    {
        _localKey = localKey;
        _local = new ReplicaProgress(localKey);
        GrantingVoters = [.. grantingVoters.Order()];
        EpochStartOffset = epochStartOffset;
        _checkQuorumTimeoutMs = fetchTimeoutMs * 3L / 2;
        CheckQuorumDeadline = long.MaxValue;
        UpdateVoters(voters, now);
    }

    public override RaftRole Role => RaftRole.Leader;
    public override int? LeaderId => _localKey.Id;
    public override int? VotedId => _localKey.Id;

    public long EpochStartOffset { get; }
    public IReadOnlyList<int> GrantingVoters { get; }

    /// <summary>Null until a majority has reached past <see cref="EpochStartOffset"/>.</summary>
    public long? HighWatermark { get; private set; }

    public long CheckQuorumDeadline { get; private set; }
    public bool HasCheckQuorumFailed(long now) => now >= CheckQuorumDeadline;

    public IEnumerable<int> Unacknowledged => _unacknowledged.Order();
    public void Acknowledge(int voterId) => _unacknowledged.Remove(voterId);

    public VoterSet VoterSet => _voterSet;
    public bool IsLocalVoter => _voterSet.IsVoter(_localKey);

    public bool IsVoter(ReplicaKey replica) => _voterSet.IsVoter(replica);

    /// <summary>
    /// The voter set in force changed (a KRAFT_VOTERS record was appended): progress moves between
    /// voters and observers, new voters are sent BeginQuorumEpoch, check-quorum starts when the
    /// leader is no longer alone. True if the high watermark advanced.
    /// </summary>
    public bool UpdateVoters(VoterSet voters, long now)
    {
        var old = new Dictionary<int, ReplicaProgress>(_voters);
        _voters.Clear();
        foreach (var voter in voters.Voters)
        {
            if (voter.Id == _localKey.Id && voter.Key.Matches(_localKey))
            {
                _voters[voter.Id] = _local;
                continue;
            }
            ReplicaProgress? progress = null;
            if (old.Remove(voter.Id, out var existing) && voter.Key.Matches(existing.Key)) progress = existing;
            else if (existing is not null) old[voter.Id] = existing;
            if (progress is null)
            {
                var observer = _observers.FirstOrDefault(o => voter.Key.Matches(o.Key));
                if (observer.Value is not null)
                {
                    progress = observer.Value;
                    _observers.Remove(observer.Key);
                }
            }
            _voters[voter.Id] = progress ?? new ReplicaProgress(voter.Key);
            if (!_voterSet.Contains(voter.Id)) _unacknowledged.Add(voter.Id);
        }
        foreach (var removed in old.Values.Where(p => p != _local))
            _observers[removed.Key] = removed;
        _unacknowledged.RemoveWhere(id => !voters.Contains(id) || id == _localKey.Id);
        _fetchedSinceCheck.RemoveWhere(id => !voters.Contains(id));
        _voterSet = voters;
        bool alone = voters.Count == 0 || voters.Count == 1 && IsLocalVoter;
        if (alone) CheckQuorumDeadline = long.MaxValue;
        else if (CheckQuorumDeadline == long.MaxValue) CheckQuorumDeadline = now + _checkQuorumTimeoutMs;
        return MaybeAdvanceHighWatermark();
    }

    /// <summary>The leader's own durable end offset changed; true if the high watermark advanced.</summary>
    public bool UpdateLocalEndOffset(long flushedEndOffset, long now)
    {
        _local.RecordLocal(flushedEndOffset, now);
        return MaybeAdvanceHighWatermark();
    }

    /// <summary>A replica fetched at a validated offset; true if the high watermark advanced.</summary>
    public bool UpdateReplica(ReplicaKey replica, long fetchOffset, long leaderEndOffset, long now)
    {
        if (_voterSet.IsVoter(replica) && _voters.TryGetValue(replica.Id, out var voter))
        {
            if (voter.Key.DirectoryId.IsZero && !replica.DirectoryId.IsZero) voter.Key = replica;
            voter.RecordFetch(fetchOffset, leaderEndOffset, now);
            return MaybeAdvanceHighWatermark();
        }
        if (!_observers.TryGetValue(replica, out var observer)) _observers[replica] = observer = new ReplicaProgress(replica);
        observer.RecordFetch(fetchOffset, leaderEndOffset, now);
        return false;
    }

    public bool UpdateReplica(int replicaId, long fetchOffset, long leaderEndOffset, long now) =>
        UpdateReplica(ReplicaKey.Of(replicaId), fetchOffset, leaderEndOffset, now);

    /// <summary>The observer with exactly this key, if it fetched in this epoch.</summary>
    public ReplicaProgress? Observer(ReplicaKey replica) => _observers.GetValueOrDefault(replica);

    /// <summary>Check-quorum bookkeeping: any fetch from a voter in this epoch shows it follows us.</summary>
    public void RecordVoterFetch(ReplicaKey replica, long now)
    {
        if (!_voterSet.IsVoter(replica) || replica.Id == _localKey.Id) return;
        _fetchedSinceCheck.Add(replica.Id);
        int self = IsLocalVoter ? 1 : 0;
        if (_fetchedSinceCheck.Count + self >= _voters.Count / 2 + 1)
        {
            CheckQuorumDeadline = CheckQuorumDeadline == long.MaxValue ? long.MaxValue : now + _checkQuorumTimeoutMs;
            _fetchedSinceCheck.Clear();
        }
    }

    /// <summary>The other voters, most caught up first (ties by id): the preferred successors.</summary>
    public IReadOnlyList<int> PreferredSuccessors() =>
        [.. _voters.Values.Where(v => v.ReplicaId != _localKey.Id).OrderByDescending(v => v.EndOffset).ThenBy(v => v.ReplicaId).Select(v => v.ReplicaId)];

    public IEnumerable<ReplicaProgress> Voters => _voters.Values;

    /// <summary>Replicas that fetched recently and are not voters (the leader itself when it removed itself).</summary>
    public IEnumerable<ReplicaProgress> Observers(long now)
    {
        foreach (var key in _observers.Where(o => now - o.Value.LastFetchTimestamp >= ObserverExpiryMs).Select(o => o.Key).ToList())
            _observers.Remove(key);
        var list = _observers.Values.OrderBy(o => o.ReplicaId).ToList();
        if (!IsLocalVoter) list.Add(_local);
        return list;
    }

    public override bool CanGrantVote(int candidateId, bool isLogUpToDate, bool isPreVote, long now) => false;

    private bool MaybeAdvanceHighWatermark()
    {
        if (_voters.Count == 0) return false;
        var offsets = _voters.Values.Select(v => v.EndOffset).OrderDescending().ToList();
        long candidate = offsets[_voters.Count / 2];
        if (candidate <= EpochStartOffset) return false;
        if (HighWatermark is { } current && candidate <= current) return false;
        HighWatermark = candidate;
        return true;
    }
}
