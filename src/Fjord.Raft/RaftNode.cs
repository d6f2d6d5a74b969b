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
    private readonly List<CommittedBatch> _committed = [];
    private long _enteredVersion = -1;
    private long _highWatermark;
    private long _nextDelivery;
    private int _discoveryCursor;

    public RaftNode(RaftConfig config, int nodeId, IReadOnlyCollection<int> voterIds, IRaftLog log, IQuorumStateStore store,
        Random random, string clusterId, long now, Action<string>? trace = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(voterIds);
        ArgumentNullException.ThrowIfNull(log);
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(random);
        ArgumentNullException.ThrowIfNull(clusterId);
        if (voterIds.Count == 0) throw new ArgumentException("the quorum needs at least one voter", nameof(voterIds));
        if (config.ElectionTimeoutMs <= 0 || config.FetchTimeoutMs <= 0 || config.RequestTimeoutMs <= 0 || config.ElectionBackoffMaxMs < 0
            || config.FetchMaxWaitMs < 0 || config.FetchMaxBytes <= 0)
            throw new ArgumentOutOfRangeException(nameof(config), $"timeouts must be positive: {config}");

        NodeId = nodeId;
        _config = config;
        _log = log;
        _clusterId = clusterId;
        _trace = trace is null ? null : line => trace($"node {nodeId}: {line}");
        _quorum = new QuorumState(config, nodeId, new SortedSet<int>(voterIds), store, random, _trace);
        // Correlation ids start at a random point so that answers to an earlier incarnation of
        // this node are unlikely to match; answers are checked for their epoch as well.
        _requests = new RequestTracker(random.Next(1, int.MaxValue / 2));
        _nextDelivery = log.StartOffset;
        _quorum.Initialize(log.LastEpoch, now);
        Settle(now);
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

    /// <summary>Leader only: appends one batch holding <paramref name="records"/> as values (null
    /// keys), flushes it, and returns its last offset; null when this node is not the leader.</summary>
    public long? Propose(IReadOnlyList<byte[]> records, long now)
    {
        ArgumentNullException.ThrowIfNull(records);
        if (records.Count == 0) throw new ArgumentException("a batch needs at least one record", nameof(records));
        if (_quorum.State is not LeaderState leader) return null;
        AppendAsLeader(leader, RaftBatches.Data(leader.Epoch, records, now), now);
        long lastOffset = _log.EndOffset - 1;
        CompleteAllParkedFetches(now);
        Settle(now);
        return lastOffset;
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

    /// <summary>Batches that became committed since the last drain, in offset order, each once per
    /// <see cref="RaftNode"/> (a new instance starts again from the log start).</summary>
    public IReadOnlyList<CommittedBatch> DrainCommitted()
    {
        var batches = _committed.ToArray();
        _committed.Clear();
        return batches;
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
            case DescribeQuorumRequest: Respond(message, DescribeQuorum(now)); break;
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
    /// fetches parked by a former leader are answered NOT_LEADER_OR_FOLLOWER.</summary>
    private void OnEnterRole(long now)
    {
        _requests.Clear();
        if (_quorum.State is not LeaderState) CompleteAllParkedFetches(now);
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
        if (leaderId is { } named && !_quorum.Voters.Contains(named)) leaderId = null;
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
