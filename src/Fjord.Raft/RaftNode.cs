using Fjord.Common;
using Fjord.Protocol;
using Fjord.Protocol.Messages;

namespace Fjord.Raft;

/// <summary>
/// One member of the KRaft quorum (voter or observer) as a deterministic state machine: no clock,
/// thread, socket, file or random source of its own. The driver delivers messages
/// (<see cref="Handle"/>), fires timers (<see cref="Poll"/> at <see cref="NextDeadline"/>), proposes
/// records, and collects what the node wants sent (<see cref="DrainOutbound"/>) and what became
/// committed (<see cref="DrainCommitted"/>). Roles and transitions: <see cref="QuorumState"/>.
/// </summary>
/// <remarks>
/// Not thread-safe: one caller at a time (the server's Raft loop, or the simulation). Every public
/// call ends by settling the node: role entry actions, due timers and due sends run until the role
/// stops changing, and <see cref="NextDeadline"/> is recomputed (it is always later than the
/// <c>now</c> of that call). Invariant violations (two leaders named for one epoch, a truncation
/// below the high watermark, …) throw <see cref="InvalidOperationException"/>.
/// </remarks>
public sealed partial class RaftNode
{
    private const int MaxSettleSteps = 64;

    private readonly RaftConfig _config;
    private readonly IRaftLog _log;
    private readonly string _clusterId;
    private readonly Action<string>? _trace;
    private readonly QuorumState _quorum;
    private readonly RequestTracker _requests;
    private readonly List<RaftMessage> _outbound = [];
    private readonly List<CommittedItem> _committed = [];
    private long _enteredVersion = -1;
    private long _highWatermark;
    private long _nextDelivery;
    private int _discoveryCursor;
    private readonly RaftMembership _membership;
    private readonly VoterSetHistory _history;

    /// <summary>A node of a static quorum (kraft.version 0) whose voters are <paramref name="voterIds"/>.</summary>
    public RaftNode(RaftConfig config, int nodeId, IReadOnlyCollection<int> voterIds, IRaftLog log, IQuorumStateStore store,
        Random random, string clusterId, long now, Action<string>? trace = null)
        : this(config, StaticMembership(nodeId, voterIds), log, store, random, clusterId, now, trace)
    {
    }

    /// <summary>A node of a static or dynamic quorum (KIP-853), as <paramref name="membership"/> says.</summary>
    public RaftNode(RaftConfig config, RaftMembership membership, IRaftLog log, IQuorumStateStore store,
        Random random, string clusterId, long now, Action<string>? trace = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(membership);
        ArgumentNullException.ThrowIfNull(log);
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(random);
        ArgumentNullException.ThrowIfNull(clusterId);
        if (membership.StaticVoters is { IsEmpty: true }) throw new ArgumentException("the quorum needs at least one voter", nameof(membership));
        if (config.ElectionTimeoutMs <= 0 || config.FetchTimeoutMs <= 0 || config.RequestTimeoutMs <= 0 || config.ElectionBackoffMaxMs < 0
            || config.FetchMaxWaitMs < 0 || config.FetchMaxBytes <= 0 || config.HighWatermarkLingerMs < 0)
            throw new ArgumentOutOfRangeException(nameof(config), $"timeouts must be positive: {config}");

        int nodeId = membership.NodeId;
        NodeId = nodeId;
        _membership = membership;
        _config = config;
        _log = log;
        _clusterId = clusterId;
        _trace = trace is null ? null : line => trace($"node {nodeId}: {line}");
        _history = new VoterSetHistory(membership.StaticVoters ?? VoterSet.Empty, 0);
        _quorum = new QuorumState(config, membership.Key, _history.Voters, store, random, _trace) { Dynamic = membership.IsDynamic };
        // Correlation ids start at a random point so that answers to an earlier incarnation of
        // this node are unlikely to match; answers are checked for their epoch as well.
        _requests = new RequestTracker(random.Next(1, int.MaxValue / 2));
        LoadSnapshotOnStart();
        LoadVoterHistory();
        _quorum.Initialize(log.LastEpoch, now);
        Settle(now);
    }

    private static RaftMembership StaticMembership(int nodeId, IReadOnlyCollection<int> voterIds)
    {
        ArgumentNullException.ThrowIfNull(voterIds);
        if (voterIds.Count == 0) throw new ArgumentException("the quorum needs at least one voter", nameof(voterIds));
        return new RaftMembership(nodeId) { StaticVoters = VoterSet.Static(voterIds) };
    }

    public int NodeId { get; }
    public bool IsVoter => _quorum.IsVoter;
    public RaftRole Role => _quorum.State.Role;
    public int Epoch => _quorum.Epoch;

    /// <summary>The leader of the current epoch as far as this node knows (itself while Leader or Resigned).</summary>
    public int? LeaderId => _quorum.State.LeaderId;

    /// <summary>Everything below is committed. 0 after a (re)start until the quorum tells us more;
    /// never decreases within one <see cref="RaftNode"/>.</summary>
    public long HighWatermark => _highWatermark;

    public long LogEndOffset => _log.EndOffset;

    /// <summary>The earliest time <see cref="Poll"/> has something to do (long.MaxValue: nothing).</summary>
    public long NextDeadline { get; private set; } = long.MaxValue;

    /// <summary>Delivers a request or a response addressed to this node.</summary>
    public void Handle(RaftMessage message, long now)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (message.Destination != NodeId)
            _trace?.Invoke($"t={now} ignored {message}: addressed to {message.Destination}");
        else if (message.IsRequest)
            HandleRequest(message, now);
        else
            HandleResponse(message, now);
        Settle(now);
    }

    /// <summary>Fires the timers that are due and sends what is due.</summary>
    public void Poll(long now) => Settle(now);

    /// <summary>
    /// Leader only: appends one batch holding <paramref name="records"/> as values (null keys) and
    /// returns its last offset; null when this node is not the leader. The batch is NOT flushed:
    /// fetches parked by followers are answered with it at once (queued for <see cref="DrainOutbound"/>),
    /// so the driver can send them before it calls <see cref="Flush"/>, and the leader's fsync
    /// overlaps the followers' fetch, append and fsync. Until <see cref="Flush"/> the leader does not
    /// count the batch towards the high watermark (only flushed offsets count, on every voter).
    /// </summary>
    public long? Propose(IReadOnlyList<byte[]> records, long now)
    {
        ArgumentNullException.ThrowIfNull(records);
        if (records.Count == 0) throw new ArgumentException("a batch needs at least one record", nameof(records));
        if (_quorum.State is not LeaderState leader) return null;
        AppendAsLeader(leader, RaftBatches.Data(leader.Epoch, records, now));
        long lastOffset = _log.EndOffset - 1;
        CompleteAllParkedFetches(now);
        Settle(now);
        return lastOffset;
    }

    /// <summary>True when the log holds appended records that are not yet durable: the driver should
    /// send what is queued, then call <see cref="Flush"/>.</summary>
    public bool HasUnflushedTail => _log.FlushedOffset < _log.EndOffset;

    /// <summary>
    /// Makes the log's tail durable (<see cref="IRaftLog.Flush"/>, only when there is one); a leader
    /// then counts its new flushed end offset towards the high watermark, which may commit batches
    /// and answer parked fetches. Drivers call it after sending what <see cref="Propose"/> (or
    /// becoming leader, which appends a LEADER_CHANGE batch) queued — see <see cref="HasUnflushedTail"/>.
    /// A leader whose driver never calls it commits nothing: a single voter commits only here.
    /// </summary>
    public void Flush(long now)
    {
        if (HasUnflushedTail) _log.Flush();
        if (_quorum.State is LeaderState leader && leader.UpdateLocalEndOffset(_log.FlushedOffset, now))
            OnLeaderHighWatermarkAdvanced(leader, now);
        Settle(now);
    }

    /// <summary>Graceful resignation: a leader becomes Resigned and sends EndQuorumEpoch naming the
    /// other voters, most caught up first. No effect on a node that is not the leader.</summary>
    public void Resign(long now)
    {
        if (_quorum.State is LeaderState leader)
        {
            _trace?.Invoke($"t={now} resigning (graceful)");
            _quorum.ToResigned(leader.PreferredSuccessors(), now);
        }
        Settle(now);
    }

    /// <summary>The messages to send, queued since the last drain, in the order they were produced.</summary>
    public IReadOnlyList<RaftMessage> DrainOutbound()
    {
        var messages = _outbound.ToArray();
        _outbound.Clear();
        return messages;
    }

    /// <summary>What became committed since the last drain, in order: batches in offset order, each
    /// once per <see cref="RaftNode"/>, and a <see cref="SnapshotLoad"/> wherever the state is only
    /// available as a snapshot — first thing after a start when the log has one, and after a snapshot
    /// fetched from the leader; batches then continue from its end offset. A new instance starts
    /// again from the log start (or its snapshot).</summary>
    public IReadOnlyList<CommittedItem> DrainCommitted()
    {
        var items = _committed.ToArray();
        _committed.Clear();
        return items;
    }

    /// <summary>Messages queued but not yet drained (tests check what was queued when state was written).</summary>
    internal IReadOnlyList<RaftMessage> PendingOutbound => _outbound;

    internal EpochState State => _quorum.State;

    private OffsetAndEpoch LogEnd => new(_log.EndOffset, _log.LastEpoch);

    private bool ClusterMatches(string? clusterId) => clusterId is null || clusterId == _clusterId;

    private void HandleRequest(RaftMessage message, long now)
    {
        switch (message.Body)
        {
            case VoteRequest r: Respond(message, HandleVoteRequest(r, now)); break;
            case BeginQuorumEpochRequest r: Respond(message, HandleBeginQuorumEpochRequest(r, now)); break;
            case EndQuorumEpochRequest r: Respond(message, HandleEndQuorumEpochRequest(r, now)); break;
            case FetchRequest r: HandleFetchRequest(message, r, now); break;
            case FetchSnapshotRequest r: HandleFetchSnapshotRequest(message, r, now); break;
            case DescribeQuorumRequest: Respond(message, DescribeQuorum(now)); break;
            case AddRaftVoterRequest r: HandleAddRaftVoter(message, r, now); break;
            case RemoveRaftVoterRequest r: HandleRemoveRaftVoter(message, r, now); break;
            case UpdateRaftVoterRequest r: Respond(message, HandleUpdateRaftVoter(r, now)); break;
            default: _trace?.Invoke($"t={now} ignored {message}: not a KRaft request"); break;
        }
    }

    private void HandleResponse(RaftMessage message, long now)
    {
        if (!_requests.TryComplete(message, out var sent))
        {
            _trace?.Invoke($"t={now} ignored {message}: stale or unknown");
            return;
        }
        switch (message.Body)
        {
            case VoteResponse r: HandleVoteResponse(message.Source, r, sent, now); break;
            case BeginQuorumEpochResponse r: HandleBeginQuorumEpochResponse(message.Source, r, now); break;
            case EndQuorumEpochResponse r: HandleEndQuorumEpochResponse(message.Source, r, now); break;
            case FetchResponse r: HandleFetchResponse(message.Source, r, now); break;
            case FetchSnapshotResponse r: HandleFetchSnapshotResponse(message.Source, r, now); break;
            case UpdateRaftVoterResponse r: HandleUpdateRaftVoterResponse(message.Source, r, now); break;
        }
    }

    private void SendRequest(int destination, IKafkaMessage body, long now, bool preVote = false)
    {
        int correlationId = _requests.Register(destination, body.MessageApiKey, now, _config.RequestTimeoutMs, preVote);
        _outbound.Add(new RaftMessage(NodeId, destination, correlationId, true, body));
    }

    private void Respond(RaftMessage request, IKafkaMessage body) =>
        _outbound.Add(new RaftMessage(NodeId, request.Source, request.CorrelationId, false, body));

    /// <summary>
    /// Runs role entry actions, due timers and due sends until the role stops changing, then
    /// recomputes <see cref="NextDeadline"/>.
    /// </summary>
    private void Settle(long now)
    {
        for (int step = 0; ; step++)
        {
            if (step == MaxSettleSteps) throw new InvalidOperationException($"node {NodeId}: role keeps changing at t={now} ({_quorum.State})");
            if (_enteredVersion != _quorum.Version)
            {
                _enteredVersion = _quorum.Version;
                OnEnterRole(now);
                continue;
            }
            long version = _quorum.Version;
            PollRole(now);
            if (_quorum.Version == version) break;
        }
        NextDeadline = ComputeNextDeadline(now);
    }

    /// <summary>What happens once on entering a role: requests of the previous role are forgotten;
    /// fetches parked by a former leader are answered NOT_LEADER_OR_FOLLOWER; a snapshot being
    /// fetched in the previous role (another epoch or leader) is abandoned.</summary>
    private void OnEnterRole(long now)
    {
        _requests.Clear();
        if (_quorum.State is not LeaderState)
        {
            CompleteAllParkedFetches(now);
            FailPendingVoterChange(now);
        }
        if (_snapshotFetch is { } fetch && fetch.Owner != _quorum.State) AbandonSnapshotFetch(now);
    }

    private long ComputeNextDeadline(long now)
    {
        long deadline = Math.Min(_requests.NextRetry, EarliestParkedFetchDeadline);
        long roleDeadline = _quorum.State switch
        {
            UnattachedState u => u.ElectionDeadline,
            ProspectiveState p => p.ElectionDeadline,
            CandidateState c => c.BackoffDeadline ?? c.ElectionDeadline,
            LeaderState l => l.CheckQuorumDeadline,
            FollowerState f => IsVoter || !f.HasFetchTimedOut(now) ? f.FetchDeadline : long.MaxValue,
            ResignedState r => r.ElectionDeadline,
            _ => long.MaxValue,
        };
        deadline = Math.Min(deadline, roleDeadline);
        if (deadline <= now)
            throw new InvalidOperationException($"node {NodeId}: next deadline {deadline} is not after now {now} in {_quorum.State}");
        return deadline;
    }

    /// <summary>
    /// Acts on a leader and epoch named by a request or response: a higher epoch moves us to it
    /// (Follower when its leader is named, else Unattached); the leader of our own epoch, when we
    /// knew none, makes us its Follower. Two different leaders named for one epoch is a safety
    /// violation and throws.
    /// </summary>
    private void MaybeTransition(int? leaderId, int epoch, long now)
    {
        if (leaderId is { } named && !_quorum.MayLead(named)) leaderId = null;
        var state = _quorum.State;
        if (epoch > state.Epoch)
        {
            if (leaderId == NodeId) throw new InvalidOperationException($"node {NodeId}: named leader of epoch {epoch}, which it never reached");
            if (leaderId is { } leader) _quorum.ToFollower(epoch, leader, now);
            else _quorum.ToUnattached(epoch, now);
        }
        else if (epoch == state.Epoch && leaderId is { } leader)
        {
            if (state.LeaderId is { } known)
            {
                if (known != leader) throw new InvalidOperationException($"node {NodeId}: epoch {epoch} has leader {known}, but {leader} is named");
            }
            else if (leader == NodeId) throw new InvalidOperationException($"node {NodeId}: named leader of epoch {epoch}, which it did not win");
            else _quorum.ToFollower(epoch, leader, now);
        }
    }

    /// <summary>
    /// The part of every response's handling that concerns epochs (Kafka's maybeHandleCommonResponse).
    /// True when the response needs no further handling: it names an older epoch (stale), or a
    /// newer one (we moved to it), or an epoch error, or the leader of our epoch when we knew none
    /// and it also carries an error.
    /// </summary>
    private bool HandleEpochOfResponse(ErrorCode error, int? leaderId, int epoch, long now)
    {
        if (epoch < Epoch || error == ErrorCode.UnknownLeaderEpoch) return true;
        if (epoch > Epoch || error is ErrorCode.FencedLeaderEpoch or ErrorCode.NotLeaderOrFollower)
        {
            MaybeTransition(leaderId, epoch, now);
            return true;
        }
        if (leaderId is not null && _quorum.State.LeaderId is null)
        {
            MaybeTransition(leaderId, epoch, now);
            return error != ErrorCode.None;
        }
        return false;
    }
}
