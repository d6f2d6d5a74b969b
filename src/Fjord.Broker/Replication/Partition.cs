using Fjord.Common;
using Fjord.Metadata;
using Fjord.Protocol;
using Fjord.Protocol.Messages;
using Fjord.Protocol.Records;
using Fjord.Storage;

namespace Fjord.Broker.Replication;

/// <summary>What this broker is for a partition.</summary>
public enum ReplicaRole
{
    /// <summary>Not (or no longer) a replica: the partition was stopped.</summary>
    None,
    Leader,
    Follower,
}

/// <summary>A consistent view of a partition's replication state (taken under its lock).</summary>
public readonly record struct PartitionState(
    ReplicaRole Role, int LeaderId, int LeaderEpoch, int PartitionEpoch, long HighWatermark, long LogStartOffset, long LogEndOffset,
    long LeaderEpochStartOffset, IReadOnlyList<int> Replicas, IReadOnlyList<int> Isr, IReadOnlyList<int> MaximalIsr, bool IsrChangePending);

/// <summary>
/// One partition this broker holds a replica of: its log, its role (leader or follower, from the
/// metadata image), and as leader the followers' positions, the ISR and the high watermark; the
/// producer state of idempotent producers; the requests waiting on it (acks=all produces, long-polling
/// fetches, DeleteRecords).
/// </summary>
/// <remarks>
/// <para><b>High watermark (leader).</b> HW = min(leader's log end offset, the log end offset of every
/// member of the <i>maximal ISR</i> — the committed ISR, plus a follower whose addition is in flight —
/// and of every follower that is caught up and eligible to join). It only moves forward while this
/// broker leads in one epoch. A follower's position is unknown (-1) from the moment this broker
/// becomes leader until the follower fetches in the new epoch, so after a leader change the HW cannot
/// move until every ISR member has fetched from the new leader (and, by the diverging-epoch check,
/// has truncated away whatever it held that the new leader does not). Hence every offset below the
/// HW is in the log of every ISR member. Appends never move it past the leader's log end.</para>
/// <para><b>HW (follower).</b> min(leader's HW from the last fetch, own log end) — it may go down
/// after a truncation, never above the own log end.</para>
/// <para><b>ISR.</b> Changed only through AlterPartition to the controller, one proposal in flight at
/// a time; the committed ISR is adopted from the controller's answer or a newer partition epoch in the
/// metadata image. Expansion: a follower not in the ISR whose log end ≥ HW and ≥ the start offset of
/// the current leader epoch, and whose broker is registered, unfenced and not shutting down. Shrink:
/// an ISR member (other than the leader) not caught up to the leader's log end for
/// replica.lag.time.max.ms (Kafka's lastCaughtUpTime: a fetch at the leader's log end, or at the log
/// end the leader had at the follower's previous fetch). During a shrink the HW still counts the old
/// (maximal) ISR, so it never runs ahead of a replica the controller still considers in sync.</para>
/// <para><b>Truncation (follower).</b> With Fetch v12+ the leader answers a fetch whose
/// LastFetchedEpoch/offset is not in its epoch history with a diverging epoch (epoch E, end offset
/// O); the follower truncates to min(O, its own end of E) when it knows E (else to its end of the
/// largest epoch below, and asks again), drops epoch entries from there on, rebuilds the producer
/// state, and never appends from a diverging answer. A fetch below the leader's log start restarts
/// the log at the leader's log start.</para>
/// <para><b>Threads.</b> One lock guards role, ISR, follower states, HW, producer state and appends
/// (leader and follower); log reads take no lock. Waiters are completed with asynchronous
/// continuations, so completing them under the lock runs no foreign code there.</para>
/// </remarks>
public sealed partial class Partition
{
    private readonly object _lock = new();
    private readonly int _brokerId;
    private readonly IClock _clock;
    private readonly ReplicaManagerOptions _options;
    private readonly Action<string> _log;
    private readonly Dictionary<int, FollowerState> _followers = [];
    private readonly List<AckWaiter> _ackWaiters = [];
    private readonly HashSet<AsyncSignal> _watchers = [];

    private ReplicaRole _role = ReplicaRole.None;
    private int _leaderId = -1, _leaderEpoch = -1, _partitionEpoch = -1;
    private int[] _replicas = [], _isr = [];
    private long _hw;
    private long _leaderEpochStartOffset = -1;
    private PendingIsrChange? _pending;

    internal Partition(TopicPartition topicPartition, Uuid topicId, PartitionLog log, int brokerId, IClock clock,
        ReplicaManagerOptions options, Action<string> logLine)
    {
        TopicPartition = topicPartition;
        TopicId = topicId;
        Log = log;
        _brokerId = brokerId;
        _clock = clock;
        _options = options;
        _log = logLine;
        _hw = log.LogStartOffset;
        Producers = new ProducerStateTable();
        Snapshots = new ProducerSnapshotFiles(log.Directory, topicPartition.ToString(), logLine);
    }

    public TopicPartition TopicPartition { get; }
    public Uuid TopicId { get; }
    public PartitionLog Log { get; }

    /// <summary>min.insync.replicas of the topic (set by the replica manager from the image).</summary>
    public int MinInsyncReplicas { get; internal set; } = 1;

    internal ProducerStateTable Producers { get; }

    /// <summary>The producer-state snapshot files of this partition's directory.</summary>
    internal ProducerSnapshotFiles Snapshots { get; }

    public long HighWatermark => Volatile.Read(ref _hw);

    /// <summary>
    /// The last stable offset: min(first offset of the ongoing transactions and of the completed ones
    /// whose marker is not yet below the HW, HW), never below the log start offset. READ_COMMITTED
    /// readers see only offsets below it.
    /// </summary>
    public long LastStableOffset
    {
        get { lock (_lock) return LastStableOffsetLocked(); }
    }

    private long LastStableOffsetLocked() => Producers.LastStableOffset(_hw, Log.LogStartOffset);

    public ReplicaRole Role
    {
        get { lock (_lock) return _role; }
    }

    public PartitionState State
    {
        get
        {
            lock (_lock)
            {
                return new PartitionState(_role, _leaderId, _leaderEpoch, _partitionEpoch, _hw, Log.LogStartOffset, Log.LogEndOffset,
                    _leaderEpochStartOffset, _replicas, _isr, MaximalIsr, _pending is not null);
            }
        }
    }

    /// <summary>The log end offset the leader last saw from <paramref name="replicaId"/> (-1 unknown), or null when it is not a follower here.</summary>
    public long? FollowerLogEndOffset(int replicaId)
    {
        lock (_lock) return _followers.TryGetValue(replicaId, out var f) ? f.LogEndOffset : null;
    }

    private int[] MaximalIsr => _pending?.MaximalIsr ?? _isr;

    public override string ToString() => $"Partition({TopicPartition}, {State})";

    // ------------------------------------------------------------------ state per follower

    /// <summary>LastCaughtUpTimeMs of a follower never caught up (far enough in the past to be out of sync at once).</summary>
    private const long NeverCaughtUp = long.MinValue / 4;

    private sealed class FollowerState(long lastCaughtUpTimeMs)
    {
        public long LogEndOffset = -1;
        public long LogStartOffset = -1;
        public long LastCaughtUpTimeMs = lastCaughtUpTimeMs;
        public long LastFetchTimeMs = -1;
        public long LastFetchLeaderLogEndOffset = -1;
        public long BrokerEpoch = -1;
        public long LastSentHighWatermark = -1;
    }

    /// <summary>An AlterPartition proposal in flight (or parked until the metadata moves on).</summary>
    internal sealed class PendingIsrChange(int[] proposedIsr, int[] maximalIsr, int leaderEpoch, int partitionEpoch,
        List<(int BrokerId, long BrokerEpoch)> members, long createdMs)
    {
        public int[] ProposedIsr { get; } = proposedIsr;
        public int[] MaximalIsr { get; } = maximalIsr;
        public int LeaderEpoch { get; } = leaderEpoch;
        public int PartitionEpoch { get; } = partitionEpoch;
        public List<(int BrokerId, long BrokerEpoch)> Members { get; } = members;
        public long CreatedMs { get; } = createdMs;
        public bool WaitingForMetadata { get; set; }
    }

    private sealed class AckWaiter(long requiredOffset, TaskCompletionSource<ErrorCode> completion)
    {
        public long RequiredOffset { get; } = requiredOffset;
        public TaskCompletionSource<ErrorCode> Completion { get; } = completion;
    }

    // ------------------------------------------------------------------ role changes (metadata)

    /// <summary>
    /// Applies a registration naming this broker leader. A new leader epoch records its start (the log
    /// end) in the epoch cache, forgets the followers' positions (ISR members count as caught up now)
    /// and keeps the HW; the same epoch with a newer partition epoch adopts the ISR and replicas.
    /// Returns true when this broker became leader in a new epoch.
    /// </summary>
    internal bool MakeLeader(PartitionRegistration registration)
    {
        lock (_lock)
        {
            long now = _clock.MonotonicMs;
            bool newEpoch = _role != ReplicaRole.Leader || registration.LeaderEpoch != _leaderEpoch;
            if (newEpoch)
            {
                _role = ReplicaRole.Leader;
                _leaderId = _brokerId;
                _leaderEpoch = registration.LeaderEpoch;
                _partitionEpoch = registration.PartitionEpoch;
                _replicas = registration.Replicas.ToArray();
                _isr = registration.Isr.ToArray();
                _pending = null;
                if (Log.LeaderEpochs.LatestEpoch > _leaderEpoch)
                    _log($"{TopicPartition}: becoming leader in epoch {_leaderEpoch}, but the log already has epoch {Log.LeaderEpochs.LatestEpoch}");
                else
                    Log.LeaderEpochs.Assign(_leaderEpoch, Log.LogEndOffset);
                _leaderEpochStartOffset = Log.LogEndOffset;
                _followers.Clear();
                foreach (int replica in _replicas)
                    if (replica != _brokerId) _followers[replica] = new FollowerState(_isr.Contains(replica) ? now : NeverCaughtUp);
                _hw = Math.Clamp(_hw, Log.LogStartOffset, Log.LogEndOffset);
                _log($"{TopicPartition}: leader in epoch {_leaderEpoch} from offset {_leaderEpochStartOffset}, ISR [{string.Join(",", _isr)}], HW {_hw}");
            }
            else if (registration.PartitionEpoch > _partitionEpoch)
            {
                _partitionEpoch = registration.PartitionEpoch;
                _isr = registration.Isr.ToArray();
                _replicas = registration.Replicas.ToArray();
                _pending = null;
                foreach (int gone in _followers.Keys.Where(k => !_replicas.Contains(k)).ToList()) _followers.Remove(gone);
                foreach (int replica in _replicas)
                    if (replica != _brokerId && !_followers.ContainsKey(replica)) _followers[replica] = new FollowerState(NeverCaughtUp);
            }
            MaybeIncrementHighWatermarkLocked(now);
            CompleteAckWaitersLocked();
            SignalWatchersLocked();
            return newEpoch;
        }
    }

    /// <summary>
    /// Applies a registration naming another broker (or none) leader. Returns true when the leader or
    /// the leader epoch changed (the fetcher must be moved). Waiting acks=all produces fail with
    /// NOT_LEADER_OR_FOLLOWER.
    /// </summary>
    internal bool MakeFollower(PartitionRegistration registration)
    {
        lock (_lock)
        {
            bool changed = _role != ReplicaRole.Follower || _leaderId != registration.Leader || _leaderEpoch != registration.LeaderEpoch;
            _role = ReplicaRole.Follower;
            _leaderId = registration.Leader;
            _leaderEpoch = registration.LeaderEpoch;
            _partitionEpoch = registration.PartitionEpoch;
            _replicas = registration.Replicas.ToArray();
            _isr = registration.Isr.ToArray();
            _pending = null;
            _followers.Clear();
            _leaderEpochStartOffset = -1;
            if (_hw > Log.LogEndOffset) _hw = Log.LogEndOffset;
            FailAckWaitersLocked(ErrorCode.NotLeaderOrFollower);
            SignalWatchersLocked();
            if (changed) _log($"{TopicPartition}: follower of broker {_leaderId} in epoch {_leaderEpoch}");
            return changed;
        }
    }

    /// <summary>This broker is no longer a replica (or shuts down): fails every waiter.</summary>
    internal void Stop(ErrorCode waiterError = ErrorCode.NotLeaderOrFollower)
    {
        lock (_lock)
        {
            _role = ReplicaRole.None;
            _pending = null;
            _followers.Clear();
            FailAckWaitersLocked(waiterError);
            SignalWatchersLocked();
        }
    }

    // ------------------------------------------------------------------ leader: appends

    internal readonly record struct LeaderAppendOutcome(ErrorCode Error, string? Message, long BaseOffset, long LastOffset, long LogAppendTime, long LogStartOffset)
    {
        public static LeaderAppendOutcome Failed(ErrorCode error, string? message = null) => new(error, message, -1, -1, -1, -1);
    }

    /// <summary>
    /// Appends a producer's batches as leader: checks the role, min.insync.replicas for acks=all, the
    /// idempotent-producer rules (a duplicate is answered with the original offsets, nothing appended),
    /// then appends in the current leader epoch and advances the HW if the ISR allows.
    /// </summary>
    internal LeaderAppendOutcome AppendAsLeader(ReadOnlyMemory<byte> records, short acks, bool requireOneBatch)
    {
        // Look at the batches before taking the lock: the storage layer validates them fully (CRC, size).
        var batches = new List<(long ProducerId, short Epoch, int FirstSeq, int LastSeq, bool Control, bool Transactional)>(1);
        try
        {
            var reader = new RecordBatchReader(records);
            while (reader.MoveNext())
            {
                var b = reader.Current;
                batches.Add((b.ProducerId, b.ProducerEpoch, b.BaseSequence, b.LastSequence, b.IsControl, b.IsTransactional));
            }
        }
        catch (ProtocolDecodeException e)
        {
            return LeaderAppendOutcome.Failed(ErrorCode.CorruptMessage, $"invalid record batch: {e.Message}");
        }
        if (batches.Count == 0) return LeaderAppendOutcome.Failed(ErrorCode.InvalidRecord, "no record batch");
        if (requireOneBatch && batches.Count != 1)
            return LeaderAppendOutcome.Failed(ErrorCode.InvalidRecord, $"produce v3+ must carry exactly one record batch per partition, not {batches.Count}");
        if (batches.Any(b => b.Control)) return LeaderAppendOutcome.Failed(ErrorCode.InvalidRecord, "clients may not produce control batches");
        if (batches.Any(b => b.Transactional && (b.ProducerId < 0 || b.FirstSeq < 0)))
            return LeaderAppendOutcome.Failed(ErrorCode.InvalidRecord, "a transactional batch needs a producer id and a sequence");
        var idempotent = batches.Where(b => b.ProducerId >= 0 && b.FirstSeq >= 0).ToList();
        if (idempotent.Count > 0 && batches.Count > 1)
            return LeaderAppendOutcome.Failed(ErrorCode.InvalidRecord, "an idempotent producer's append must hold exactly one batch");

        lock (_lock)
        {
            if (_role != ReplicaRole.Leader) return LeaderAppendOutcome.Failed(ErrorCode.NotLeaderOrFollower);
            if (acks == -1 && _isr.Length < MinInsyncReplicas)
                return LeaderAppendOutcome.Failed(ErrorCode.NotEnoughReplicas,
                    $"the ISR has {_isr.Length} member(s); min.insync.replicas is {MinInsyncReplicas}");
            if (idempotent.Count == 1)
            {
                var b = idempotent[0];
                var check = Producers.Check(b.ProducerId, b.Epoch, b.FirstSeq, b.LastSeq, b.Transactional);
                if (check.Verdict == ProducerStateTable.Verdict.Reject) return LeaderAppendOutcome.Failed(check.Error, check.Message);
                if (check.Verdict == ProducerStateTable.Verdict.Duplicate)
                {
                    var o = check.Original;
                    long appendTime = Log.Config.MessageTimestampType == TimestampType.LogAppendTime ? o.Timestamp : -1;
                    return new LeaderAppendOutcome(ErrorCode.None, null, o.FirstOffset, o.LastOffset, appendTime, Log.LogStartOffset);
                }
            }
            if (!TryAppendLocked(records, "append", out var result, out var failure)) return failure;
            if (idempotent.Count == 1)
            {
                var b = idempotent[0];
                long timestamp = result.LogAppendTime >= 0 ? result.LogAppendTime : result.MaxTimestamp;
                Producers.Record(b.ProducerId, b.Epoch, b.FirstSeq, b.LastSeq, result.FirstOffset, result.LastOffset, timestamp, b.Transactional);
            }
            MaybeIncrementHighWatermarkLocked(_clock.MonotonicMs);
            CompleteAckWaitersLocked();
            SignalWatchersLocked();
            return new LeaderAppendOutcome(ErrorCode.None, null, result.FirstOffset, result.LastOffset, result.LogAppendTime, result.LogStartOffset);
        }
    }

    /// <summary>
    /// Under the lock, as leader: appends <paramref name="batches"/> at the leader epoch and writes a
    /// producer-state snapshot if that rolled a segment. False with <paramref name="failure"/> as the
    /// answer when it could not: a rejected batch → its error; a closed log → NOT_LEADER_OR_FOLLOWER;
    /// an I/O failure → KAFKA_STORAGE_ERROR (logged).
    /// </summary>
    private bool TryAppendLocked(ReadOnlyMemory<byte> batches, string what, out AppendResult result, out LeaderAppendOutcome failure)
    {
        int segmentsBefore = Log.SegmentCount;
        long endBefore = Log.LogEndOffset;
        result = default;
        failure = default;
        try
        {
            result = Log.AppendAsLeader(batches, _leaderEpoch);
        }
        catch (LogAppendException e)
        {
            failure = LeaderAppendOutcome.Failed(e.Error, e.Message);
            return false;
        }
        catch (ObjectDisposedException)
        {
            failure = LeaderAppendOutcome.Failed(ErrorCode.NotLeaderOrFollower, "the log is closed");
            return false;
        }
        catch (Exception e) when (e is StorageException or IOException)
        {
            _log($"{TopicPartition}: {what} failed: {e.Message}");
            failure = LeaderAppendOutcome.Failed(ErrorCode.KafkaStorageError, e.Message);
            return false;
        }
        SnapshotIfRolledLocked(segmentsBefore, endBefore);
        return true;
    }

    /// <summary>
    /// Completes with NONE once the HW reaches <paramref name="requiredOffset"/> (the appended batch's
    /// last offset + 1) — NOT_ENOUGH_REPLICAS_AFTER_APPEND if by then the maximal ISR is smaller than
    /// min.insync.replicas — or NOT_LEADER_OR_FOLLOWER if leadership is lost first. The caller bounds
    /// the wait (REQUEST_TIMED_OUT).
    /// </summary>
    /// <remarks>The caller completes the returned source itself (REQUEST_TIMED_OUT) when it stops
    /// waiting; the partition then forgets it.</remarks>
    internal TaskCompletionSource<ErrorCode> WaitForHighWatermark(long requiredOffset)
    {
        var completion = new TaskCompletionSource<ErrorCode>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_lock)
        {
            if (_role != ReplicaRole.Leader) completion.TrySetResult(ErrorCode.NotLeaderOrFollower);
            else if (_hw >= requiredOffset) completion.TrySetResult(AckError());
            else _ackWaiters.Add(new AckWaiter(requiredOffset, completion));
            return completion;
        }
    }

    private ErrorCode AckError() => MaximalIsr.Length >= MinInsyncReplicas ? ErrorCode.None : ErrorCode.NotEnoughReplicasAfterAppend;

    private void CompleteAckWaitersLocked()
    {
        if (_ackWaiters.Count == 0) return;
        if (_role != ReplicaRole.Leader)
        {
            FailAckWaitersLocked(ErrorCode.NotLeaderOrFollower);
            return;
        }
        _ackWaiters.RemoveAll(w =>
        {
            if (w.Completion.Task.IsCompleted) return true; // timed out and abandoned by its request
            if (_hw < w.RequiredOffset) return false;
            w.Completion.TrySetResult(AckError());
            return true;
        });
    }

    private void FailAckWaitersLocked(ErrorCode error)
    {
        foreach (var w in _ackWaiters) w.Completion.TrySetResult(error);
        _ackWaiters.Clear();
    }

    /// <summary>Drops waiters whose requests gave up (timed out).</summary>
    internal void PruneAckWaiters()
    {
        lock (_lock) _ackWaiters.RemoveAll(w => w.Completion.Task.IsCompleted);
    }

    // ------------------------------------------------------------------ watchers (fetch, DeleteRecords)

    internal void AddWatcher(AsyncSignal signal)
    {
        lock (_lock) _watchers.Add(signal);
    }

    internal void RemoveWatcher(AsyncSignal signal)
    {
        lock (_lock) _watchers.Remove(signal);
    }

    private void SignalWatchersLocked()
    {
        foreach (var w in _watchers) w.Set();
    }

    // ------------------------------------------------------------------ leader: followers, HW, ISR

    /// <summary>
    /// Advances the HW per the rule in the class remarks. Only on the leader, only forward. Returns
    /// whether it moved.
    /// </summary>
    private bool MaybeIncrementHighWatermarkLocked(long now, Func<int, bool>? eligible = null)
    {
        if (_role != ReplicaRole.Leader) return false;
        long leo = Log.LogEndOffset;
        long candidate = leo;
        var maximal = MaximalIsr;
        foreach (var (id, f) in _followers)
        {
            bool counts = maximal.Contains(id)
                          || (IsCaughtUp(f, leo, now) && (eligible?.Invoke(id) ?? false));
            if (counts && f.LogEndOffset < candidate) candidate = f.LogEndOffset;
        }
        if (candidate <= _hw) return false;
        Volatile.Write(ref _hw, candidate);
        return true;
    }

    private bool IsCaughtUp(FollowerState f, long leaderLogEnd, long now) =>
        f.LogEndOffset >= 0 && (f.LogEndOffset >= leaderLogEnd || now - f.LastCaughtUpTimeMs <= _options.ReplicaLagTimeMaxMs);

    internal readonly record struct FollowerUpdate(ErrorCode Error, PendingIsrChange? IsrChange);

    /// <summary>
    /// Records a follower's fetch (the leader side of replication): its log end offset is the fetch
    /// offset; it counts as caught up now if it fetched at the leader's log end, or as of its previous
    /// fetch if it fetched at least the log end the leader had then. Then the ISR may expand (the
    /// proposal is returned for the caller to send) and the HW may advance.
    /// </summary>
    internal FollowerUpdate UpdateFollowerFetchState(int replicaId, long fetchOffset, long followerLogStart, long brokerEpoch,
        long leaderLogEndAtRead, Func<int, bool> eligible)
    {
        lock (_lock)
        {
            if (_role != ReplicaRole.Leader) return new(ErrorCode.NotLeaderOrFollower, null);
            if (!_followers.TryGetValue(replicaId, out var f)) return new(ErrorCode.NotLeaderOrFollower, null);
            long now = _clock.MonotonicMs;
            if (fetchOffset >= leaderLogEndAtRead) f.LastCaughtUpTimeMs = Math.Max(f.LastCaughtUpTimeMs, now);
            else if (f.LastFetchLeaderLogEndOffset >= 0 && fetchOffset >= f.LastFetchLeaderLogEndOffset)
                f.LastCaughtUpTimeMs = Math.Max(f.LastCaughtUpTimeMs, f.LastFetchTimeMs);
            bool moved = f.LogEndOffset != fetchOffset || f.LogStartOffset != followerLogStart;
            f.LogEndOffset = fetchOffset;
            f.LogStartOffset = followerLogStart;
            f.LastFetchLeaderLogEndOffset = leaderLogEndAtRead;
            f.LastFetchTimeMs = now;
            if (brokerEpoch >= 0) f.BrokerEpoch = brokerEpoch;
            PendingIsrChange? change = null;
            if (_pending is null && !_isr.Contains(replicaId) && fetchOffset >= _hw && fetchOffset >= _leaderEpochStartOffset && eligible(replicaId))
            {
                int[] proposed = [.. _isr, replicaId];
                change = NewPendingLocked(proposed, maximal: proposed, now);
            }
            bool hwMoved = MaybeIncrementHighWatermarkLocked(now, eligible);
            if (hwMoved) CompleteAckWaitersLocked();
            if (moved || change is not null || hwMoved) SignalWatchersLocked();
            return new(ErrorCode.None, change);
        }
    }

    /// <summary>The HW this leader last sent <paramref name="replicaId"/>; records <paramref name="sent"/> when given.</summary>
    internal long ExchangeSentHighWatermark(int replicaId, long? sent)
    {
        lock (_lock)
        {
            if (!_followers.TryGetValue(replicaId, out var f)) return long.MaxValue;
            long before = f.LastSentHighWatermark;
            if (sent is { } s) f.LastSentHighWatermark = s;
            return before;
        }
    }

    /// <summary>
    /// The leader's periodic check: ISR members not caught up for replica.lag.time.max.ms are proposed
    /// for removal (returned for the caller to send). Also drops a proposal that has waited longer
    /// than the controller request timeout.
    /// </summary>
    internal PendingIsrChange? MaybeShrinkIsr()
    {
        lock (_lock)
        {
            if (_role != ReplicaRole.Leader) return null;
            long now = _clock.MonotonicMs;
            if (_pending is not null)
            {
                if (now - _pending.CreatedMs <= (long)_options.ControllerRequestTimeout.TotalMilliseconds) return null;
                _log($"{TopicPartition}: dropping the ISR proposal [{string.Join(",", _pending.ProposedIsr)}] unanswered for {now - _pending.CreatedMs} ms");
                _pending = null;
            }
            long leo = Log.LogEndOffset;
            var outOfSync = _isr.Where(id => id != _brokerId && _followers.TryGetValue(id, out var f)
                                             && f.LogEndOffset < leo && now - f.LastCaughtUpTimeMs > _options.ReplicaLagTimeMaxMs).ToList();
            if (outOfSync.Count == 0) return null;
            int[] proposed = _isr.Where(id => !outOfSync.Contains(id)).ToArray();
            _log($"{TopicPartition}: shrinking ISR [{string.Join(",", _isr)}] to [{string.Join(",", proposed)}]: {string.Join(",", outOfSync)} lagging more than {_options.ReplicaLagTimeMaxMs} ms");
            return NewPendingLocked(proposed, maximal: _isr, now);
        }
    }

    private PendingIsrChange NewPendingLocked(int[] proposed, int[] maximal, long now)
    {
        var members = proposed.Select(id => (id, id == _brokerId ? -1L : _followers.TryGetValue(id, out var f) ? f.BrokerEpoch : -1L)).ToList();
        _pending = new PendingIsrChange(proposed, maximal, _leaderEpoch, _partitionEpoch, members, now);
        return _pending;
    }

    /// <summary>
    /// The controller's answer to <paramref name="change"/>. Success adopts the ISR and partition epoch
    /// (when newer); INVALID_UPDATE_VERSION / FENCED_LEADER_EPOCH / unknown topic park the proposal until
    /// the metadata image brings a newer partition epoch; anything else drops it so it may be made again.
    /// A stale answer (another proposal or role since) is ignored.
    /// </summary>
    internal void CompleteIsrChange(PendingIsrChange change, ErrorCode topLevelError, AlterPartitionResponse.PartitionData? data, Exception? failure)
    {
        lock (_lock)
        {
            if (!ReferenceEquals(_pending, change)) return;
            if (failure is not null || topLevelError != ErrorCode.None || data is null)
            {
                _log($"{TopicPartition}: AlterPartition to [{string.Join(",", change.ProposedIsr)}] failed: {failure?.Message ?? topLevelError.ToString()}");
                _pending = null;
                return;
            }
            var error = (ErrorCode)data.ErrorCode;
            if (error == ErrorCode.None)
            {
                if (data.LeaderId != _brokerId || data.LeaderEpoch != _leaderEpoch)
                {
                    change.WaitingForMetadata = true; // leadership moved: the image will say so
                    return;
                }
                if (data.PartitionEpoch <= _partitionEpoch)
                {
                    _pending = null;
                    return;
                }
                _isr = [.. data.Isr];
                _partitionEpoch = data.PartitionEpoch;
                _pending = null;
                _log($"{TopicPartition}: ISR now [{string.Join(",", _isr)}] (partition epoch {_partitionEpoch})");
                MaybeIncrementHighWatermarkLocked(_clock.MonotonicMs);
                CompleteAckWaitersLocked();
                SignalWatchersLocked();
                return;
            }
            _log($"{TopicPartition}: AlterPartition to [{string.Join(",", change.ProposedIsr)}] refused: {error}");
            if (error is ErrorCode.InvalidUpdateVersion or ErrorCode.FencedLeaderEpoch or ErrorCode.UnknownTopicOrPartition or ErrorCode.UnknownTopicId)
                change.WaitingForMetadata = true;
            else
                _pending = null;
        }
    }

    /// <summary>The low watermark for DeleteRecords: min log start offset over the leader and the followers in <paramref name="alive"/>.</summary>
    internal long LowWatermark(Func<int, bool> alive)
    {
        lock (_lock)
        {
            long low = Log.LogStartOffset;
            foreach (var (id, f) in _followers)
                if (alive(id)) low = Math.Min(low, f.LogStartOffset);
            return low;
        }
    }

    // ------------------------------------------------------------------ follower side

    /// <summary>Where the follower fetches from: its log end and the epoch of its last batch; null when not a follower of <paramref name="leaderId"/> in <paramref name="leaderEpoch"/>.</summary>
    internal (long FetchOffset, int LastFetchedEpoch, long LogStartOffset)? FollowerFetchPosition(int leaderId, int leaderEpoch)
    {
        lock (_lock)
        {
            if (!IsFollowerOf(leaderId, leaderEpoch)) return null;
            return (Log.LogEndOffset, Log.LeaderEpochs.LatestEpoch, Log.LogStartOffset);
        }
    }

    private bool IsFollowerOf(int leaderId, int leaderEpoch) => _role == ReplicaRole.Follower && _leaderId == leaderId && _leaderEpoch == leaderEpoch;

    /// <summary>
    /// Appends what the leader sent (offsets and epochs as given), then takes the leader's HW (capped
    /// at the own log end) and log start offset. False when the role changed meanwhile.
    /// </summary>
    internal bool AppendFromLeader(int leaderId, int leaderEpoch, ReadOnlyMemory<byte> records, long leaderHighWatermark, long leaderLogStart)
    {
        lock (_lock)
        {
            if (!IsFollowerOf(leaderId, leaderEpoch)) return false;
            if (!records.IsEmpty)
            {
                int segmentsBefore = Log.SegmentCount;
                long endBefore = Log.LogEndOffset;
                Log.AppendAsFollower(records);
                SnapshotIfRolledLocked(segmentsBefore, endBefore);
                Producers.ApplyAppended(records);
            }
            long leo = Log.LogEndOffset;
            if (leaderLogStart > Log.LogStartOffset) Log.AdvanceLogStartOffset(Math.Min(leaderLogStart, leo));
            if (leaderHighWatermark >= 0) Volatile.Write(ref _hw, Math.Min(leaderHighWatermark, leo));
            SignalWatchersLocked();
            return true;
        }
    }

    /// <summary>
    /// Truncates after the leader answered with a diverging epoch (see the class remarks). Returns the
    /// offset truncated to, or null when the role changed meanwhile.
    /// </summary>
    internal long? TruncateOnDivergence(int leaderId, int leaderEpoch, int divergingEpoch, long divergingEndOffset)
    {
        lock (_lock)
        {
            if (!IsFollowerOf(leaderId, leaderEpoch)) return null;
            long leo = Log.LogEndOffset;
            long target;
            if (divergingEpoch < 0 || divergingEndOffset < 0) target = Math.Min(_hw, leo);
            else
            {
                var (ownEpoch, ownEnd) = Log.LeaderEpochs.EndOffsetFor(divergingEpoch, leo);
                if (ownEpoch == LeaderEpochCache.UndefinedEpoch) target = Math.Min(divergingEndOffset, leo);
                else if (ownEpoch != divergingEpoch) target = Math.Min(ownEnd, leo);
                else target = Math.Min(Math.Min(ownEnd, divergingEndOffset), leo);
            }
            TruncateLocked(target);
            return target;
        }
    }

    /// <summary>
    /// The leader answered OFFSET_OUT_OF_RANGE: below its log start the log restarts there; above its
    /// end (possible only after an unclean election) the log is cut to the leader's HW.
    /// </summary>
    internal bool HandleOutOfRange(int leaderId, int leaderEpoch, long fetchOffset, long leaderLogStart, long leaderHighWatermark)
    {
        lock (_lock)
        {
            if (!IsFollowerOf(leaderId, leaderEpoch)) return false;
            if (leaderLogStart >= 0 && fetchOffset < leaderLogStart)
            {
                _log($"{TopicPartition}: fetch offset {fetchOffset} is below the leader's log start {leaderLogStart}: restarting the log there");
                Log.TruncateFullyAndStartAt(leaderLogStart);
                Snapshots.DeleteAll();
                Producers.Clear();
                Volatile.Write(ref _hw, leaderLogStart);
            }
            else if (leaderHighWatermark >= 0 && leaderHighWatermark < Log.LogEndOffset)
            {
                TruncateLocked(leaderHighWatermark);
            }
            SignalWatchersLocked();
            return true;
        }
    }

    private void TruncateLocked(long target)
    {
        long before = Log.LogEndOffset;
        Log.Truncate(target);
        // A log cut nowhere may still end with an epoch entry this broker recorded as leader without
        // appending anything in it; drop it too, or the next fetch would report that epoch again.
        Log.LeaderEpochs.TruncateFromEnd(Log.LogEndOffset);
        if (Log.LogEndOffset < before)
            _log($"{TopicPartition}: truncated from {before} to {Log.LogEndOffset} (diverged from the leader)");
        Snapshots.DeleteAbove(Log.LogEndOffset);
        Snapshots.LoadInto(Producers, Log);
        if (_hw > Log.LogEndOffset) Volatile.Write(ref _hw, Log.LogEndOffset);
        SignalWatchersLocked();
    }
}
