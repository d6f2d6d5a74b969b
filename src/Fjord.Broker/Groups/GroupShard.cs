using Fjord.Broker.Coordinator;
using Fjord.Common;
using Fjord.Protocol.Messages;

namespace Fjord.Broker.Groups;

/// <summary>The answer to a JoinGroup.</summary>
public sealed record JoinResult(ErrorCode Error, string MemberId, int Generation, string? ProtocolType, string? ProtocolName, string LeaderId,
    IReadOnlyList<(string MemberId, string? InstanceId, byte[] Metadata)> Members, bool SkipAssignment = false)
{
    public static JoinResult Failed(ErrorCode error, string memberId = "") => new(error, memberId, -1, null, null, "", []);
}

/// <summary>The answer to a SyncGroup.</summary>
public sealed record SyncResult(ErrorCode Error, string? ProtocolType, string? ProtocolName, byte[] Assignment)
{
    public static SyncResult Failed(ErrorCode error) => new(error, null, null, []);
}

/// <summary>A JoinGroup, version-independent.</summary>
/// <param name="RequireKnownMemberId">v4+: an unknown member first gets MEMBER_ID_REQUIRED with its id.</param>
/// <param name="SupportsSkipAssignment">v9+: a static leader rejoining a stable group gets the members with SkipAssignment.</param>
public sealed record JoinParams(string GroupId, string MemberId, string? InstanceId, string ClientId, string ClientHost, int SessionTimeoutMs,
    int RebalanceTimeoutMs, string ProtocolType, IReadOnlyList<(string Name, byte[] Metadata)> Protocols, bool RequireKnownMemberId,
    bool SupportsSkipAssignment = false);

/// <summary>One partition's offset to commit.</summary>
public sealed record OffsetToCommit(string Topic, int Partition, long Offset, int LeaderEpoch, string? Metadata);

/// <summary>One partition's committed offset as OffsetFetch answers it (-1 and "" when none).</summary>
public sealed record FetchedOffset(string Topic, int Partition, long Offset, int LeaderEpoch, string Metadata, ErrorCode Error);

/// <summary>A group as DescribeGroups and ListGroups see it.</summary>
public sealed record GroupSummary(string GroupId, string State, string ProtocolType, string Protocol,
    IReadOnlyList<(string MemberId, string? InstanceId, string ClientId, string ClientHost, byte[] Metadata, byte[] Assignment)> Members);

/// <summary>
/// The classic group coordinator of one <c>__consumer_offsets</c> partition: groups, members,
/// rebalances and committed offsets (Kafka's GroupCoordinator + GroupMetadataManager semantics),
/// persisted as GroupMetadata/OffsetCommit records.
/// </summary>
/// <remarks>
/// <para><b>Threads.</b> Every public method takes <c>lock (this)</c> (the runtime's context lock is
/// this object); timer callbacks take it too and do nothing once unloaded. Records are appended
/// under the lock (so the log order is the state order) and answers given when they are committed.</para>
/// <para><b>State vs log.</b> Offsets are applied to memory only after their records are committed
/// (a failed commit changes nothing). Group metadata is written when the leader's SyncGroup arrives
/// (and for an emptied group, a static member's replacement, a deletion); members joining or leaving
/// change memory at once, as in Kafka, and a failed group write fails the waiting SyncGroups and
/// starts a new rebalance.</para>
/// <para><b>Timers.</b> One per member (session; a member waiting in a join or sync is kept alive),
/// one per pending member id (MEMBER_ID_REQUIRED, session timeout), one per rebalance (the initial
/// delay, then the rebalance timeout), one retention check per shard.</para>
/// </remarks>
public sealed partial class GroupShard : ICoordinatorShard
{
    private readonly GroupCoordinatorConfig _config;
    private readonly ICoordinatorTimer _timer;
    private readonly Func<long> _nowMs;
    private readonly Func<IReadOnlyList<CoordinatorRecord>, CoordinatorBatchProducer?, Task<ErrorCode>> _append;
    private readonly Action<string> _log;
    private readonly Dictionary<string, ClassicGroup> _groups = new(StringComparer.Ordinal);
    /// <summary>
    /// Transactional offset commits not yet ended by a marker, per producer id, in log order. An entry
    /// is added when its record is appended (TxnOffsetCommit) or replayed, removed when its append
    /// fails, and applied (COMMIT) or dropped (ABORT) by <see cref="CompleteTransaction"/>. While a
    /// partition of a group has one, OffsetFetch with RequireStable answers UNSTABLE_OFFSET_COMMIT.
    /// </summary>
    private readonly Dictionary<long, List<PendingTxnOffset>> _pendingTxnOffsets = [];

    /// <summary>A transactional offset commit awaiting its marker, with the log position of its record (see <see cref="_recordPositions"/>).</summary>
    private sealed record PendingTxnOffset(string Group, string Topic, int Partition, CommittedOffset? Offset, long Position);

    /// <summary>
    /// The log position of the record that produced each committed offset held in a group's
    /// <see cref="ClassicGroup.Offsets"/> (keyed by the <see cref="CommittedOffset"/> instance, so an
    /// entry goes away with the offset it describes). Invariant: positions compare as the records'
    /// offsets in the partition log do. A replayed record's position is its log offset; a record this
    /// shard appends takes the next value of <see cref="_nextPosition"/>, which <see cref="Replay"/>
    /// keeps above every replayed offset (appends start after the load) and is taken under the lock in the order the records
    /// reach the log (appends happen under the lock, and this shard is the only writer of offset
    /// records to its partition in its leader epoch). Markers take log offsets too, so a live position
    /// may be lower than the record's real offset, never out of order with another record's.
    /// Kafka's rule built on it: the COMMIT marker makes a pending transactional offset the committed
    /// one only if its record is later in the log than the committed offset's record; a plain commit
    /// written after a TxnOffsetCommit of the same partition stays when the transaction commits. An
    /// offset without a known position (none is expected) counts as older than any record.
    /// </summary>
    private readonly System.Runtime.CompilerServices.ConditionalWeakTable<CommittedOffset, System.Runtime.CompilerServices.StrongBox<long>> _recordPositions = new();

    /// <summary>The position of the next record this shard appends (see <see cref="_recordPositions"/>).</summary>
    private long _nextPosition;
    private readonly TimerSlot _retention = new();
    private bool _active;

    /// <param name="config">Timeouts, delays, retention.</param>
    /// <param name="timer">Sessions, rebalance delays, retention checks.</param>
    /// <param name="nowMs">Wall-clock ms (commit timestamps, retention).</param>
    /// <param name="append">Appends records (called under this shard's lock); completes when committed or failed.</param>
    /// <param name="log">Notable events.</param>
    public GroupShard(GroupCoordinatorConfig config, ICoordinatorTimer timer, Func<long> nowMs,
        Func<IReadOnlyList<CoordinatorRecord>, CoordinatorBatchProducer?, Task<ErrorCode>> append, Action<string>? log = null)
    {
        _config = config ?? throw new ArgumentNullException(nameof(config));
        _timer = timer ?? throw new ArgumentNullException(nameof(timer));
        _nowMs = nowMs ?? throw new ArgumentNullException(nameof(nowMs));
        _append = append ?? throw new ArgumentNullException(nameof(append));
        _log = log ?? (_ => { });
    }

    /// <summary>Whether the shard serves (loaded and not unloaded).</summary>
    public bool IsActive
    {
        get { lock (this) return _active; }
    }

    /// <summary>A copy of a group's state for tests and tools (null when unknown).</summary>
    public ClassicGroup? Group(string groupId)
    {
        lock (this) return _groups.GetValueOrDefault(groupId);
    }

    // ================================================================== ICoordinatorShard

    public void Replay(long offset, long producerId, short producerEpoch, ReadOnlyMemory<byte> key, ReadOnlyMemory<byte>? value)
    {
        lock (this)
        {
            if (offset >= _nextPosition) _nextPosition = offset + 1;
            short type = GroupRecords.KeyVersion(key.Span);
            switch (type)
            {
                case 0 or 1:
                {
                    var k = GroupRecords.ReadOffsetKey(key);
                    CommittedOffset? v = value is { } bytes ? GroupRecords.ReadOffsetValue(bytes) : null;
                    if (producerId >= 0)
                    {
                        AddPending(producerId, new PendingTxnOffset(k.Group, k.Topic, k.Partition, v, offset));
                        return;
                    }
                    ApplyOffset(k.Group, k.Topic, k.Partition, v, offset); // log order: always the latest so far
                    return;
                }
                case 2:
                {
                    var k = GroupRecords.ReadGroupKey(key);
                    if (value is not { } bytes)
                    {
                        if (_groups.TryGetValue(k.Group, out var old))
                        {
                            if (old.Offsets.Count == 0) _groups.Remove(k.Group);
                            else
                            {
                                var fresh = new ClassicGroup(k.Group, old.CurrentStateTimestamp);
                                foreach (var (tp, o) in old.Offsets) fresh.Offsets[tp] = o;
                                _groups[k.Group] = fresh;
                            }
                        }
                        return;
                    }
                    var v = GroupRecords.ReadGroupValue(bytes);
                    var group = GetOrCreate(k.Group);
                    group.Members.Clear();
                    group.StaticMembers.Clear();
                    group.ProtocolType = v.ProtocolType.Length == 0 ? null : v.ProtocolType;
                    group.Generation = v.Generation;
                    group.ProtocolName = v.Protocol;
                    group.LeaderId = v.Leader;
                    if (v.CurrentStateTimestamp >= 0) group.CurrentStateTimestamp = v.CurrentStateTimestamp;
                    foreach (var m in v.Members)
                    {
                        var member = new ClassicMember
                        {
                            MemberId = m.MemberId,
                            InstanceId = m.GroupInstanceId,
                            ClientId = m.ClientId,
                            ClientHost = m.ClientHost,
                            SessionTimeoutMs = m.SessionTimeout,
                            RebalanceTimeoutMs = m.RebalanceTimeout > 0 ? m.RebalanceTimeout : m.SessionTimeout,
                            ProtocolType = v.ProtocolType,
                            Protocols = [(v.Protocol ?? "", m.Subscription)],
                            Assignment = m.Assignment,
                        };
                        group.Members[member.MemberId] = member;
                        if (member.InstanceId is { } iid) group.StaticMembers[iid] = member.MemberId;
                    }
                    group.State = group.Members.Count == 0 ? ClassicGroupState.Empty : ClassicGroupState.Stable;
                    return;
                }
                case >= Consumer.ConsumerGroupRecord.GroupMetadataType and <= Consumer.ConsumerGroupRecord.CurrentMemberAssignmentType:
                    ReplayConsumerRecord(key, value); // KIP-848 consumer group records (GroupShard.Consumer.cs)
                    return;
                default:
                    return; // other record types (share groups, streams groups…): not served
            }
        }
    }

    public void ReplayEndTransaction(long producerId, bool commit) => CompleteTransaction(producerId, commit);

    /// <summary>
    /// A transaction of <paramref name="producerId"/> ended: its transactional offset commits are
    /// applied (commit) or dropped (abort). Called at load for markers, and by the transaction
    /// machinery once markers are written to this partition. A committed one replaces a partition's
    /// committed offset only if its record is later in the log (Kafka's rule, see
    /// <see cref="_recordPositions"/>): a plain OffsetCommit written after it stays.
    /// </summary>
    public void CompleteTransaction(long producerId, bool commit)
    {
        lock (this)
        {
            if (!_pendingTxnOffsets.Remove(producerId, out var list) || !commit) return;
            foreach (var (group, topic, partition, offset, position) in list)
                if (IsLaterThanCommitted(group, topic, partition, position)) ApplyOffset(group, topic, partition, offset, position);
        }
    }

    /// <summary>Whether a record at <paramref name="position"/> is later in the log than the one that produced the partition's committed offset (true when there is none).</summary>
    private bool IsLaterThanCommitted(string groupId, string topic, int partition, long position)
    {
        if (!_groups.TryGetValue(groupId, out var group) || !group.Offsets.TryGetValue((topic, partition), out var current)) return true;
        return !_recordPositions.TryGetValue(current, out var known) || position > known.Value;
    }

    /// <summary>Takes the positions of <paramref name="count"/> records about to be appended as one batch (call under the lock, just before the append).</summary>
    private long TakePositions(int count)
    {
        long first = _nextPosition;
        _nextPosition += count;
        return first;
    }

    private void AddPending(long producerId, PendingTxnOffset entry)
    {
        if (!_pendingTxnOffsets.TryGetValue(producerId, out var list)) _pendingTxnOffsets[producerId] = list = [];
        list.Add(entry);
    }

    /// <summary>Whether a transactional commit of (group, topic, partition) awaits its marker (call under the lock).</summary>
    private bool HasPendingTxnOffset(string groupId, string topic, int partition)
    {
        foreach (var list in _pendingTxnOffsets.Values)
            foreach (var e in list)
                if (e.Partition == partition && e.Group == groupId && e.Topic == topic) return true;
        return false;
    }

    /// <summary>How many transactional offset commits await a marker (tests and tools).</summary>
    public int PendingTransactionalOffsets
    {
        get { lock (this) return _pendingTxnOffsets.Values.Sum(l => l.Count); }
    }

    public void OnLoaded()
    {
        lock (this)
        {
            _active = true;
            foreach (var group in _groups.Values)
                foreach (var member in group.Members.Values)
                    ScheduleSession(group, member, member.SessionTimeoutMs);
            ScheduleRetention();
            OnConsumerLoaded();
        }
    }

    public void OnUnloaded()
    {
        lock (this)
        {
            _active = false;
            _retention.Cancel();
            foreach (var group in _groups.Values)
            {
                group.JoinTimer.Cancel();
                foreach (var pending in group.PendingMembers.Values) pending.Cancel();
                foreach (var member in group.Members.Values)
                {
                    member.Session.Cancel();
                    member.JoinWaiter?.TrySetResult(JoinResult.Failed(ErrorCode.NotCoordinator, member.MemberId));
                    member.SyncWaiter?.TrySetResult(SyncResult.Failed(ErrorCode.NotCoordinator));
                    member.JoinWaiter = null;
                    member.SyncWaiter = null;
                }
            }
            _groups.Clear();
            _pendingTxnOffsets.Clear();
            OnConsumerUnloaded();
        }
    }

    private ClassicGroup GetOrCreate(string groupId)
    {
        if (!_groups.TryGetValue(groupId, out var group)) _groups[groupId] = group = new ClassicGroup(groupId, _nowMs());
        return group;
    }

    private void ApplyOffset(string groupId, string topic, int partition, CommittedOffset? offset, long position)
    {
        if (offset is null)
        {
            if (_groups.TryGetValue(groupId, out var g))
            {
                g.Offsets.Remove((topic, partition));
                if (g.Is(ClassicGroupState.Empty) && g.Offsets.Count == 0 && g.Generation == 0 && g.ProtocolType is null) _groups.Remove(groupId);
            }
            return;
        }
        _recordPositions.AddOrUpdate(offset, new System.Runtime.CompilerServices.StrongBox<long>(position));
        GetOrCreate(groupId).Offsets[(topic, partition)] = offset;
    }

    // ================================================================== JoinGroup

    public Task<JoinResult> JoinAsync(JoinParams p)
    {
        ArgumentNullException.ThrowIfNull(p);
        lock (this)
        {
            if (!_active) return Task.FromResult(JoinResult.Failed(ErrorCode.NotCoordinator, p.MemberId));
            if (p.GroupId.Length == 0) return Task.FromResult(JoinResult.Failed(ErrorCode.InvalidGroupId, p.MemberId));
            if (_consumer.Contains(p.GroupId)) return Task.FromResult(JoinResult.Failed(ErrorCode.GroupIdNotFound, p.MemberId)); // a consumer (KIP-848) group holds the id
            if (p.SessionTimeoutMs < _config.GroupMinSessionTimeoutMs || p.SessionTimeoutMs > _config.GroupMaxSessionTimeoutMs)
                return Task.FromResult(JoinResult.Failed(ErrorCode.InvalidSessionTimeout, p.MemberId));
            bool unknown = p.MemberId.Length == 0;
            if (!_groups.TryGetValue(p.GroupId, out var group))
            {
                if (!unknown) return Task.FromResult(JoinResult.Failed(ErrorCode.UnknownMemberId, p.MemberId));
                group = GetOrCreate(p.GroupId);
            }
            bool isMember = !unknown && (group.Members.ContainsKey(p.MemberId) || group.PendingMembers.ContainsKey(p.MemberId));
            bool isStatic = p.InstanceId is { } i && group.StaticMembers.ContainsKey(i);
            if (!isMember && !isStatic && group.Members.Count + group.PendingMembers.Count >= _config.GroupMaxSize)
                return Task.FromResult(JoinResult.Failed(ErrorCode.GroupMaxSizeReached, p.MemberId));
            return unknown ? JoinUnknown(group, p) : JoinKnown(group, p);
        }
    }

    private Task<JoinResult> JoinUnknown(ClassicGroup group, JoinParams p)
    {
        if (group.Is(ClassicGroupState.Dead)) return Task.FromResult(JoinResult.Failed(ErrorCode.CoordinatorNotAvailable));
        if (!group.SupportsProtocols(p.ProtocolType, p.Protocols)) return Task.FromResult(JoinResult.Failed(ErrorCode.InconsistentGroupProtocol));
        string newId = $"{p.InstanceId ?? p.ClientId}-{Guid.NewGuid()}";
        if (p.InstanceId is { } iid)
        {
            if (group.StaticMembers.TryGetValue(iid, out var oldId) && group.Members.TryGetValue(oldId, out var old))
                return ReplaceStaticMember(group, old, newId, p);
            return AddMemberAndRebalance(group, newId, p);
        }
        if (p.RequireKnownMemberId)
        {
            var slot = new TimerSlot();
            group.PendingMembers[newId] = slot;
            slot.Set(_timer.Schedule(p.SessionTimeoutMs, () => ExpirePending(group, newId, slot)));
            return Task.FromResult(JoinResult.Failed(ErrorCode.MemberIdRequired, newId));
        }
        return AddMemberAndRebalance(group, newId, p);
    }

    private Task<JoinResult> JoinKnown(ClassicGroup group, JoinParams p)
    {
        if (group.PendingMembers.Remove(p.MemberId, out var pendingSlot))
        {
            pendingSlot.Cancel();
            if (!group.SupportsProtocols(p.ProtocolType, p.Protocols)) return Task.FromResult(JoinResult.Failed(ErrorCode.InconsistentGroupProtocol, p.MemberId));
            return AddMemberAndRebalance(group, p.MemberId, p);
        }
        if (group.Is(ClassicGroupState.Dead)) return Task.FromResult(JoinResult.Failed(ErrorCode.CoordinatorNotAvailable, p.MemberId));
        if (!group.SupportsProtocols(p.ProtocolType, p.Protocols)) return Task.FromResult(JoinResult.Failed(ErrorCode.InconsistentGroupProtocol, p.MemberId));
        if (p.InstanceId is { } iid && group.StaticMembers.TryGetValue(iid, out var mapped) && mapped != p.MemberId)
            return Task.FromResult(JoinResult.Failed(ErrorCode.FencedInstanceId, p.MemberId));
        if (!group.Members.TryGetValue(p.MemberId, out var member)) return Task.FromResult(JoinResult.Failed(ErrorCode.UnknownMemberId, p.MemberId));
        switch (group.State)
        {
            case ClassicGroupState.PreparingRebalance:
                return UpdateMemberAndRebalance(group, member, p);
            case ClassicGroupState.CompletingRebalance:
                if (member.Matches(p.Protocols))
                {
                    ScheduleSession(group, member, member.SessionTimeoutMs);
                    return Task.FromResult(CurrentGeneration(group, member, includeMembers: group.LeaderId == member.MemberId));
                }
                return UpdateMemberAndRebalance(group, member, p);
            case ClassicGroupState.Stable:
                if (group.LeaderId != member.MemberId && member.Matches(p.Protocols))
                {
                    ScheduleSession(group, member, member.SessionTimeoutMs);
                    return Task.FromResult(CurrentGeneration(group, member, includeMembers: false));
                }
                return UpdateMemberAndRebalance(group, member, p);
            default:
                return Task.FromResult(JoinResult.Failed(ErrorCode.UnknownMemberId, p.MemberId));
        }
    }

    private static JoinResult CurrentGeneration(ClassicGroup group, ClassicMember member, bool includeMembers, bool skipAssignment = false) =>
        new(ErrorCode.None, member.MemberId, group.Generation, group.ProtocolType, group.ProtocolName, group.LeaderId ?? "",
            includeMembers ? MemberList(group) : [], skipAssignment);

    private static List<(string, string?, byte[])> MemberList(ClassicGroup group) =>
        [.. group.Members.Values.Select(m => (m.MemberId, m.InstanceId, m.MetadataFor(group.ProtocolName)))];

    private Task<JoinResult> AddMemberAndRebalance(ClassicGroup group, string memberId, JoinParams p)
    {
        var member = new ClassicMember
        {
            MemberId = memberId,
            InstanceId = p.InstanceId,
            ClientId = p.ClientId,
            ClientHost = p.ClientHost,
            SessionTimeoutMs = p.SessionTimeoutMs,
            RebalanceTimeoutMs = p.RebalanceTimeoutMs > 0 ? p.RebalanceTimeoutMs : p.SessionTimeoutMs,
            ProtocolType = p.ProtocolType,
            Protocols = [.. p.Protocols],
            IsNew = true,
            JoinWaiter = new TaskCompletionSource<JoinResult>(TaskCreationOptions.RunContinuationsAsynchronously),
        };
        if (group.Members.Count == 0) group.ProtocolType = p.ProtocolType;
        group.Members[memberId] = member;
        if (p.InstanceId is { } iid) group.StaticMembers[iid] = memberId;
        group.NewMemberAdded = true;
        var task = member.JoinWaiter.Task;
        ScheduleSession(group, member, _config.NewMemberJoinTimeoutMs);
        MaybePrepareRebalance(group, $"member {memberId} joined");
        TryCompleteJoin(group);
        return task;
    }

    private Task<JoinResult> UpdateMemberAndRebalance(ClassicGroup group, ClassicMember member, JoinParams p)
    {
        member.Protocols = [.. p.Protocols];
        member.ClientId = p.ClientId;
        member.ClientHost = p.ClientHost;
        member.SessionTimeoutMs = p.SessionTimeoutMs;
        member.RebalanceTimeoutMs = p.RebalanceTimeoutMs > 0 ? p.RebalanceTimeoutMs : p.SessionTimeoutMs;
        member.JoinWaiter?.TrySetResult(JoinResult.Failed(ErrorCode.RebalanceInProgress, member.MemberId));
        member.JoinWaiter = new TaskCompletionSource<JoinResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        var task = member.JoinWaiter.Task;
        ScheduleSession(group, member, member.SessionTimeoutMs);
        MaybePrepareRebalance(group, $"member {member.MemberId} rejoined");
        TryCompleteJoin(group);
        return task;
    }

    /// <summary>A static member came back with a new member id: the old id is fenced, the member keeps its place.</summary>
    private Task<JoinResult> ReplaceStaticMember(ClassicGroup group, ClassicMember member, string newId, JoinParams p)
    {
        string oldId = member.MemberId;
        member.JoinWaiter?.TrySetResult(JoinResult.Failed(ErrorCode.FencedInstanceId, oldId));
        member.SyncWaiter?.TrySetResult(SyncResult.Failed(ErrorCode.FencedInstanceId));
        member.JoinWaiter = null;
        member.SyncWaiter = null;
        group.Members.Remove(oldId);
        member.MemberId = newId;
        group.Members[newId] = member;
        group.StaticMembers[p.InstanceId!] = newId;
        bool isLeader = group.LeaderId == oldId;
        if (isLeader) group.LeaderId = newId;
        if (group.Is(ClassicGroupState.Stable) && member.Matches(p.Protocols) && (!isLeader || p.SupportsSkipAssignment))
        {
            ScheduleSession(group, member, member.SessionTimeoutMs);
            var write = _append([GroupRecord(group, null)], null);
            int generation = group.Generation;
            return Finish();

            async Task<JoinResult> Finish()
            {
                var error = MapGroupWriteError(await write.ConfigureAwait(false));
                lock (this)
                {
                    if (error != ErrorCode.None) return JoinResult.Failed(error, newId);
                    if (!group.Members.TryGetValue(newId, out var m) || group.Generation != generation)
                        return JoinResult.Failed(ErrorCode.RebalanceInProgress, newId);
                    return CurrentGeneration(group, m, includeMembers: isLeader, skipAssignment: isLeader);
                }
            }
        }
        return UpdateMemberAndRebalance(group, member, p);
    }

    private void ExpirePending(ClassicGroup group, string memberId, TimerSlot slot)
    {
        lock (this)
        {
            if (!_active || !group.PendingMembers.TryGetValue(memberId, out var current) || current != slot) return;
            group.PendingMembers.Remove(memberId);
            if (group.Is(ClassicGroupState.PreparingRebalance)) TryCompleteJoin(group);
        }
    }

    // ================================================================== SyncGroup, Heartbeat, LeaveGroup

    public Task<SyncResult> SyncAsync(string groupId, int generation, string memberId, string? instanceId, string? protocolType, string? protocolName,
        IReadOnlyDictionary<string, byte[]> assignments)
    {
        ArgumentNullException.ThrowIfNull(assignments);
        lock (this)
        {
            if (!_active) return Task.FromResult(SyncResult.Failed(ErrorCode.NotCoordinator));
            if (!_groups.TryGetValue(groupId, out var group)) return Task.FromResult(SyncResult.Failed(ErrorCode.UnknownMemberId));
            if (group.Is(ClassicGroupState.Dead)) return Task.FromResult(SyncResult.Failed(ErrorCode.CoordinatorNotAvailable));
            var error = ValidateMember(group, memberId, instanceId, generation, out var member);
            if (error != ErrorCode.None) return Task.FromResult(SyncResult.Failed(error));
            if ((protocolType is not null && protocolType != group.ProtocolType) || (protocolName is not null && protocolName != group.ProtocolName))
                return Task.FromResult(SyncResult.Failed(ErrorCode.InconsistentGroupProtocol));
            switch (group.State)
            {
                case ClassicGroupState.PreparingRebalance:
                    return Task.FromResult(SyncResult.Failed(ErrorCode.RebalanceInProgress));
                case ClassicGroupState.Stable:
                    ScheduleSession(group, member!, member!.SessionTimeoutMs);
                    return Task.FromResult(new SyncResult(ErrorCode.None, group.ProtocolType, group.ProtocolName, member.Assignment));
                case ClassicGroupState.CompletingRebalance:
                    break;
                default:
                    return Task.FromResult(SyncResult.Failed(ErrorCode.UnknownMemberId));
            }
            member!.SyncWaiter?.TrySetResult(SyncResult.Failed(ErrorCode.RebalanceInProgress));
            member.SyncWaiter = new TaskCompletionSource<SyncResult>(TaskCreationOptions.RunContinuationsAsynchronously);
            ScheduleSession(group, member, member.SessionTimeoutMs);
            var task = member.SyncWaiter.Task;
            if (group.LeaderId == memberId)
            {
                var chosen = group.Members.Keys.ToDictionary(id => id, id => assignments.GetValueOrDefault(id) ?? [], StringComparer.Ordinal);
                int gen = group.Generation;
                var write = _append([GroupRecord(group, chosen)], null);
                _ = AfterAssignmentWritten(group, gen, chosen, write);
            }
            return task;
        }
    }

    private async Task AfterAssignmentWritten(ClassicGroup group, int generation, Dictionary<string, byte[]> assignments, Task<ErrorCode> write)
    {
        var error = MapGroupWriteError(await write.ConfigureAwait(false));
        lock (this)
        {
            if (!_active || !IsCurrent(group) || !group.Is(ClassicGroupState.CompletingRebalance) || group.Generation != generation) return;
            if (error != ErrorCode.None)
            {
                _log($"group {group.GroupId}: storing generation {generation} failed: {error}");
                ResetAndPropagateAssignmentError(group, error);
                PrepareRebalance(group, $"storing the assignment failed: {error}");
                return;
            }
            foreach (var member in group.Members.Values)
            {
                member.Assignment = assignments.GetValueOrDefault(member.MemberId) ?? [];
                member.SyncWaiter?.TrySetResult(new SyncResult(ErrorCode.None, group.ProtocolType, group.ProtocolName, member.Assignment));
                member.SyncWaiter = null;
                ScheduleSession(group, member, member.SessionTimeoutMs);
            }
            group.TransitionTo(ClassicGroupState.Stable, _nowMs());
            _log($"group {group.GroupId}: generation {generation} is stable");
        }
    }

    /// <summary>FENCED_INSTANCE_ID, UNKNOWN_MEMBER_ID or ILLEGAL_GENERATION (Kafka's validateCurrentMember).</summary>
    private static ErrorCode ValidateMember(ClassicGroup group, string memberId, string? instanceId, int generation, out ClassicMember? member)
    {
        member = null;
        if (instanceId is not null && group.StaticMembers.TryGetValue(instanceId, out var mapped) && mapped != memberId) return ErrorCode.FencedInstanceId;
        if (!group.Members.TryGetValue(memberId, out member)) return ErrorCode.UnknownMemberId;
        if (generation != group.Generation) return ErrorCode.IllegalGeneration;
        return ErrorCode.None;
    }

    public ErrorCode Heartbeat(string groupId, int generation, string memberId, string? instanceId)
    {
        lock (this)
        {
            if (!_active) return ErrorCode.NotCoordinator;
            if (!_groups.TryGetValue(groupId, out var group)) return ErrorCode.UnknownMemberId;
            if (group.Is(ClassicGroupState.Dead)) return ErrorCode.CoordinatorNotAvailable;
            if (group.Is(ClassicGroupState.Empty)) return ErrorCode.UnknownMemberId;
            var error = ValidateMember(group, memberId, instanceId, generation, out var member);
            if (error != ErrorCode.None) return error;
            ScheduleSession(group, member!, member!.SessionTimeoutMs);
            return group.Is(ClassicGroupState.PreparingRebalance) ? ErrorCode.RebalanceInProgress : ErrorCode.None;
        }
    }

    /// <summary>LeaveGroup: the top-level error and each member's.</summary>
    public (ErrorCode Error, List<(string MemberId, string? InstanceId, ErrorCode Error)> Members) Leave(string groupId,
        IReadOnlyList<(string MemberId, string? InstanceId)> members)
    {
        ArgumentNullException.ThrowIfNull(members);
        lock (this)
        {
            if (!_active) return (ErrorCode.NotCoordinator, []);
            if (!_groups.TryGetValue(groupId, out var group))
                return (ErrorCode.None, [.. members.Select(m => (m.MemberId, m.InstanceId, ErrorCode.UnknownMemberId))]);
            if (group.Is(ClassicGroupState.Dead)) return (ErrorCode.CoordinatorNotAvailable, []);
            var results = new List<(string, string?, ErrorCode)>();
            bool changed = false;
            foreach (var (memberId, instanceId) in members)
            {
                ErrorCode error;
                if (instanceId is not null)
                {
                    if (!group.StaticMembers.TryGetValue(instanceId, out var mapped) || !group.Members.TryGetValue(mapped, out var member))
                        error = ErrorCode.UnknownMemberId;
                    else if (memberId.Length > 0 && memberId != mapped) error = ErrorCode.FencedInstanceId;
                    else
                    {
                        RemoveMember(group, member, ErrorCode.UnknownMemberId);
                        changed = true;
                        error = ErrorCode.None;
                    }
                }
                else if (group.PendingMembers.Remove(memberId, out var slot))
                {
                    slot.Cancel();
                    changed = true;
                    error = ErrorCode.None;
                }
                else if (group.Members.TryGetValue(memberId, out var member))
                {
                    RemoveMember(group, member, ErrorCode.UnknownMemberId);
                    changed = true;
                    error = ErrorCode.None;
                }
                else error = ErrorCode.UnknownMemberId;
                results.Add((memberId, instanceId, error));
            }
            if (changed) MembersLeft(group, "members left the group");
            return (ErrorCode.None, results);
        }
    }

    /// <summary>DeleteGroups for one group of this shard.</summary>
    public Task<ErrorCode> DeleteGroupAsync(string groupId)
    {
        lock (this)
        {
            if (!_active) return Task.FromResult(ErrorCode.NotCoordinator);
            if (!_groups.TryGetValue(groupId, out var group) || group.Is(ClassicGroupState.Dead)) return Task.FromResult(ErrorCode.GroupIdNotFound);
            if (!group.Is(ClassicGroupState.Empty)) return Task.FromResult(ErrorCode.NonEmptyGroup);
            var records = group.Offsets.Keys.Select(tp => GroupRecords.Offset(groupId, tp.Topic, tp.Partition, null)).ToList();
            records.Add(GroupRecords.Group(groupId, null));
            group.TransitionTo(ClassicGroupState.Dead, _nowMs());
            var write = _append(records, null);
            return Finish();

            async Task<ErrorCode> Finish()
            {
                var e = MapGroupWriteError(await write.ConfigureAwait(false));
                lock (this)
                {
                    if (e == ErrorCode.None) { if (IsCurrent(group)) _groups.Remove(groupId); }
                    else if (group.Is(ClassicGroupState.Dead)) group.TransitionTo(ClassicGroupState.Empty, _nowMs());
                    return e;
                }
            }
        }
    }

    /// <summary>DescribeGroups of one group: Kafka's summary (metadata and assignments only when Stable); unknown → Dead.</summary>
    public (ErrorCode Error, GroupSummary Summary) Describe(string groupId)
    {
        lock (this)
        {
            if (!_active) return (ErrorCode.NotCoordinator, new GroupSummary(groupId, "", "", "", []));
            if (!_groups.TryGetValue(groupId, out var group)) return (ErrorCode.None, new GroupSummary(groupId, "Dead", "", "", []));
            bool stable = group.Is(ClassicGroupState.Stable);
            var members = group.Members.Values.Select(m => (m.MemberId, m.InstanceId, m.ClientId, m.ClientHost,
                stable ? m.MetadataFor(group.ProtocolName) : [], stable ? m.Assignment : Array.Empty<byte>())).ToList();
            return (ErrorCode.None, new GroupSummary(groupId, group.StateName, group.ProtocolType ?? "", stable ? group.ProtocolName ?? "" : "", members));
        }
    }

    /// <summary>ListGroups: every group (not Dead) with its protocol type and state.</summary>
    public List<(string GroupId, string ProtocolType, string State)> List()
    {
        lock (this)
            return [.. _groups.Values.Where(g => !g.Is(ClassicGroupState.Dead)).Select(g => (g.GroupId, g.ProtocolType ?? "", g.StateName))];
    }

    // ================================================================== retention

    private void ScheduleRetention() =>
        _retention.Set(_timer.Schedule(_config.OffsetsRetentionCheckIntervalMs, () =>
        {
            try
            {
                ExpireOffsets();
            }
            finally
            {
                lock (this) if (_active) ScheduleRetention();
            }
        }));


    // ================================================================== records and errors

    private CoordinatorRecord GroupRecord(ClassicGroup group, Dictionary<string, byte[]>? assignments)
    {
        var value = new GroupMetadataValue
        {
            ProtocolType = group.ProtocolType ?? "",
            Generation = group.Generation,
            Protocol = group.ProtocolName,
            Leader = group.LeaderId,
            CurrentStateTimestamp = group.CurrentStateTimestamp,
            Members = [.. group.Members.Values.Select(m => new GroupMetadataValue.MemberMetadata
            {
                MemberId = m.MemberId,
                GroupInstanceId = m.InstanceId,
                ClientId = m.ClientId,
                ClientHost = m.ClientHost,
                RebalanceTimeout = m.RebalanceTimeoutMs,
                SessionTimeout = m.SessionTimeoutMs,
                Subscription = m.MetadataFor(group.ProtocolName),
                Assignment = assignments is null ? m.Assignment : assignments.GetValueOrDefault(m.MemberId) ?? [],
            })],
        };
        return GroupRecords.Group(group.GroupId, value);
    }

    /// <summary>Kafka's mapping of a failed group-metadata write.</summary>
    public static ErrorCode MapGroupWriteError(ErrorCode error) => error switch
    {
        ErrorCode.None => ErrorCode.None,
        ErrorCode.UnknownTopicOrPartition or ErrorCode.NotEnoughReplicas or ErrorCode.NotEnoughReplicasAfterAppend => ErrorCode.CoordinatorNotAvailable,
        ErrorCode.NotLeaderOrFollower or ErrorCode.KafkaStorageError => ErrorCode.NotCoordinator,
        ErrorCode.RequestTimedOut => ErrorCode.RebalanceInProgress,
        _ => ErrorCode.UnknownServerError,
    };
}
