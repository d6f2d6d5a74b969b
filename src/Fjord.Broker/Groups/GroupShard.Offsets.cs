using Fjord.Broker.Coordinator;
using Fjord.Common;
using Fjord.Protocol.Messages;

namespace Fjord.Broker.Groups;

/// <summary>The offsets half of a group shard: commits (plain and transactional), fetches, deletes and expiry.</summary>
public sealed partial class GroupShard
{
    // ================================================================== offsets

    /// <summary>OffsetCommit: each partition's error once the records are committed (or failed).</summary>
    public Task<Dictionary<(string Topic, int Partition), ErrorCode>> CommitOffsetsAsync(string groupId, int generation, string memberId,
        string? instanceId, long retentionMs, IReadOnlyList<OffsetToCommit> offsets)
    {
        ArgumentNullException.ThrowIfNull(offsets);
        Dictionary<(string, int), ErrorCode> All(ErrorCode e) => EveryPartition(offsets, e);
        lock (this)
        {
            if (!_active) return Task.FromResult(All(ErrorCode.NotCoordinator));
            if (groupId.Length == 0) return Task.FromResult(All(ErrorCode.InvalidGroupId));
            ClassicGroup? group;
            ErrorCode error;
            if (_consumer.Contains(groupId))
            {
                // KIP-848 group: the generation field is the member epoch (v9+); the offsets live in the id's holder entry.
                error = _consumer.ValidateOffsetCommit(groupId, memberId, generation);
                group = _groups.GetValueOrDefault(groupId) ?? new ClassicGroup(groupId, _nowMs());
            }
            else
            {
                if (!_groups.TryGetValue(groupId, out group))
                {
                    if (generation >= 0) return Task.FromResult(All(ErrorCode.IllegalGeneration));
                    group = GetOrCreate(groupId);
                }
                error = ValidateCommit(group, generation, memberId, instanceId);
            }
            if (error != ErrorCode.None) return Task.FromResult(All(error));
            var results = new Dictionary<(string, int), ErrorCode>();
            var records = new List<CoordinatorRecord>();
            var applied = new List<((string, int) Tp, CommittedOffset Offset, long Position)>();
            long now = _nowMs();
            foreach (var o in offsets)
            {
                if (ToCommit(o, now, retentionMs >= 0 ? now + retentionMs : null, results) is not { } committed) continue;
                records.Add(GroupRecords.Offset(groupId, o.Topic, o.Partition, committed));
                applied.Add(((o.Topic, o.Partition), committed, 0));
            }
            long first = TakePositions(records.Count);
            for (int i = 0; i < applied.Count; i++) applied[i] = applied[i] with { Position = first + i };
            var write = _append(records, null);
            return Finish();

            async Task<Dictionary<(string, int), ErrorCode>> Finish()
            {
                var e = MapOffsetWriteError(await write.ConfigureAwait(false));
                lock (this)
                {
                    if (e == ErrorCode.None && _active)
                    {
                        var target = _groups.GetValueOrDefault(groupId);
                        if (target is null) _groups[groupId] = target = group;
                        // Only if still the latest in log order: a transaction's COMMIT marker may
                        // meanwhile have applied an offset whose record was written after this one.
                        foreach (var (tp, committed, position) in applied)
                            if (IsLaterThanCommitted(groupId, tp.Item1, tp.Item2, position))
                            {
                                _recordPositions.AddOrUpdate(committed, new System.Runtime.CompilerServices.StrongBox<long>(position));
                                target.Offsets[tp] = committed;
                            }
                    }
                    foreach (var (tp, _, _) in applied) results[tp] = e;
                    return results;
                }
            }
        }
    }

    /// <summary>The same error for every partition of a commit (a refusal of the whole request).</summary>
    /// <summary>The offset to store for <paramref name="o"/>, or null (and OFFSET_METADATA_TOO_LARGE in
    /// <paramref name="results"/>) when its metadata exceeds offset.metadata.max.bytes.</summary>
    private CommittedOffset? ToCommit(OffsetToCommit o, long now, long? expireAt, Dictionary<(string, int), ErrorCode> results)
    {
        string metadata = o.Metadata ?? "";
        if (System.Text.Encoding.UTF8.GetByteCount(metadata) > _config.OffsetMetadataMaxBytes)
        {
            results[(o.Topic, o.Partition)] = ErrorCode.OffsetMetadataTooLarge;
            return null;
        }
        return new CommittedOffset(o.Offset, o.LeaderEpoch, metadata, now, expireAt);
    }

    private static Dictionary<(string, int), ErrorCode> EveryPartition(IReadOnlyList<OffsetToCommit> offsets, ErrorCode error)
    {
        var d = new Dictionary<(string, int), ErrorCode>();
        foreach (var o in offsets) d[(o.Topic, o.Partition)] = error;
        return d;
    }

    private ErrorCode ValidateCommit(ClassicGroup group, int generation, string memberId, string? instanceId)
    {
        if (group.Is(ClassicGroupState.Dead)) return ErrorCode.CoordinatorNotAvailable;
        if (generation >= 0 || memberId.Length > 0 || instanceId is not null)
        {
            var error = ValidateMember(group, memberId, instanceId, generation, out var member);
            if (error != ErrorCode.None) return error;
            if (group.Is(ClassicGroupState.CompletingRebalance)) return ErrorCode.RebalanceInProgress;
            ScheduleSession(group, member!, member!.SessionTimeoutMs);
            return ErrorCode.None;
        }
        return group.Is(ClassicGroupState.Empty) ? ErrorCode.None : ErrorCode.UnknownMemberId;
    }

    /// <summary>
    /// TxnOffsetCommit: writes the offsets as one transactional batch of <paramref name="producerId"/>
    /// / <paramref name="producerEpoch"/>; they stay pending until the transaction's marker reaches this
    /// partition (<see cref="CompleteTransaction"/>): COMMIT makes them the group's committed offsets,
    /// ABORT drops them. Validation (Kafka's rules for a transactional commit): an unknown group is
    /// accepted only without a generation (ILLEGAL_GENERATION otherwise); with a generation, member id
    /// or instance id (v3+) the member must exist (UNKNOWN_MEMBER_ID), not be fenced
    /// (FENCED_INSTANCE_ID) and be in the group's generation (ILLEGAL_GENERATION); without any, the
    /// commit is accepted whatever the group's state (v0-2 clients send none); a rebalance in
    /// progress does not refuse it. Each partition's error once the batch is committed or failed: the
    /// produce error mapped as for OffsetCommit, except the producer's own errors
    /// (INVALID_PRODUCER_EPOCH, PRODUCER_FENCED, INVALID_TXN_STATE…), which pass through.
    /// </summary>
    public Task<Dictionary<(string Topic, int Partition), ErrorCode>> CommitTransactionalOffsetsAsync(string groupId, long producerId, short producerEpoch,
        int generation, string memberId, string? instanceId, IReadOnlyList<OffsetToCommit> offsets)
    {
        ArgumentNullException.ThrowIfNull(offsets);
        Dictionary<(string, int), ErrorCode> All(ErrorCode e) => EveryPartition(offsets, e);
        lock (this)
        {
            if (!_active) return Task.FromResult(All(ErrorCode.NotCoordinator));
            if (groupId.Length == 0) return Task.FromResult(All(ErrorCode.InvalidGroupId));
            if (producerId < 0 || producerEpoch < 0) return Task.FromResult(All(ErrorCode.InvalidRequest));
            if (_consumer.Contains(groupId))
            {
                // KIP-848 group: the generation field is the member epoch; a transactional commit with a
                // stale epoch is ILLEGAL_GENERATION (Kafka), not STALE_MEMBER_EPOCH.
                var error = _consumer.ValidateOffsetCommit(groupId, memberId, generation);
                if (error == ErrorCode.StaleMemberEpoch) error = ErrorCode.IllegalGeneration;
                if (error != ErrorCode.None) return Task.FromResult(All(error));
            }
            else if (_groups.TryGetValue(groupId, out var group))
            {
                if (group.Is(ClassicGroupState.Dead)) return Task.FromResult(All(ErrorCode.CoordinatorNotAvailable));
                if (generation >= 0 || memberId.Length > 0 || instanceId is not null)
                {
                    var error = ValidateMember(group, memberId, instanceId, generation, out var member);
                    if (error != ErrorCode.None) return Task.FromResult(All(error));
                    ScheduleSession(group, member!, member!.SessionTimeoutMs);
                }
            }
            else if (generation >= 0) return Task.FromResult(All(ErrorCode.IllegalGeneration));
            var results = new Dictionary<(string, int), ErrorCode>();
            var records = new List<CoordinatorRecord>();
            var entries = new List<PendingTxnOffset>();
            long now = _nowMs();
            foreach (var o in offsets)
            {
                if (ToCommit(o, now, null, results) is not { } committed) continue;
                records.Add(GroupRecords.Offset(groupId, o.Topic, o.Partition, committed));
                entries.Add(new PendingTxnOffset(groupId, o.Topic, o.Partition, committed, 0));
            }
            if (records.Count == 0) return Task.FromResult(results);
            long first = TakePositions(records.Count);
            for (int i = 0; i < entries.Count; i++) entries[i] = entries[i] with { Position = first + i };
            var write = _append(records, new CoordinatorBatchProducer(producerId, producerEpoch, IsTransactional: true));
            // Pending from the append on (the marker follows it in the log), so a marker written before
            // this answer is sent still finds them; a failed append takes them back.
            foreach (var e in entries) AddPending(producerId, e);
            return Finish();

            async Task<Dictionary<(string, int), ErrorCode>> Finish()
            {
                var code = await write.ConfigureAwait(false);
                var e = code is ErrorCode.InvalidProducerEpoch or ErrorCode.ProducerFenced or ErrorCode.InvalidTxnState
                    or ErrorCode.OutOfOrderSequenceNumber or ErrorCode.TransactionCoordinatorFenced
                    ? code
                    : MapOffsetWriteError(code);
                lock (this)
                {
                    if (e != ErrorCode.None && _pendingTxnOffsets.TryGetValue(producerId, out var list))
                    {
                        list.RemoveAll(p => entries.Contains(p, ReferenceEqualityComparer.Instance));
                        if (list.Count == 0) _pendingTxnOffsets.Remove(producerId);
                    }
                    foreach (var p in entries) results[(p.Topic, p.Partition)] = e;
                    return results;
                }
            }
        }
    }

    /// <summary>OffsetFetch of one group: the listed partitions (null: every committed one).</summary>
    /// <param name="requireStable">OffsetFetch v7+: a partition with a transactional commit awaiting
    /// its marker answers UNSTABLE_OFFSET_COMMIT (offset -1) instead of its committed offset.</param>
    public (ErrorCode Error, List<FetchedOffset> Offsets) FetchOffsets(string groupId, IReadOnlyList<(string Topic, IReadOnlyList<int> Partitions)>? topics,
        bool requireStable = false)
    {
        lock (this)
        {
            if (!_active) return (ErrorCode.NotCoordinator, []);
            var group = _groups.GetValueOrDefault(groupId);
            var result = new List<FetchedOffset>();
            if (topics is null)
            {
                if (group is not null)
                    foreach (var ((topic, partition), o) in group.Offsets.OrderBy(e => e.Key.Topic, StringComparer.Ordinal).ThenBy(e => e.Key.Partition))
                        result.Add(requireStable && HasPendingTxnOffset(groupId, topic, partition)
                            ? new FetchedOffset(topic, partition, -1, -1, "", ErrorCode.UnstableOffsetCommit)
                            : new FetchedOffset(topic, partition, o.Offset, o.LeaderEpoch, o.Metadata, ErrorCode.None));
                return (ErrorCode.None, result);
            }
            foreach (var (topic, partitions) in topics)
                foreach (int partition in partitions)
                    result.Add(requireStable && HasPendingTxnOffset(groupId, topic, partition)
                        ? new FetchedOffset(topic, partition, -1, -1, "", ErrorCode.UnstableOffsetCommit)
                        : group is not null && group.Offsets.TryGetValue((topic, partition), out var o)
                        ? new FetchedOffset(topic, partition, o.Offset, o.LeaderEpoch, o.Metadata, ErrorCode.None)
                        : new FetchedOffset(topic, partition, -1, -1, "", ErrorCode.None));
            return (ErrorCode.None, result);
        }
    }

    /// <summary>OffsetDelete: the top-level error and each partition's.</summary>
    public Task<(ErrorCode Error, Dictionary<(string Topic, int Partition), ErrorCode> Partitions)> DeleteOffsetsAsync(string groupId,
        IReadOnlyList<(string Topic, int Partition)> partitions)
    {
        ArgumentNullException.ThrowIfNull(partitions);
        lock (this)
        {
            var results = new Dictionary<(string, int), ErrorCode>();
            if (!_active) return Task.FromResult((ErrorCode.NotCoordinator, results));
            if (!_groups.TryGetValue(groupId, out var group) || group.Is(ClassicGroupState.Dead))
                return Task.FromResult((ErrorCode.GroupIdNotFound, results));
            HashSet<string>? subscribed = null;
            if (!group.Is(ClassicGroupState.Empty))
            {
                if (group.ProtocolType != "consumer") return Task.FromResult((ErrorCode.NonEmptyGroup, results));
                subscribed = group.SubscribedTopics() ?? [.. partitions.Select(p => p.Topic)];
            }
            var records = new List<CoordinatorRecord>();
            var deleted = new List<(string, int)>();
            foreach (var (topic, partition) in partitions)
            {
                if (subscribed is not null && subscribed.Contains(topic))
                {
                    results[(topic, partition)] = ErrorCode.GroupSubscribedToTopic;
                    continue;
                }
                results[(topic, partition)] = ErrorCode.None;
                if (group.Offsets.ContainsKey((topic, partition)))
                {
                    records.Add(GroupRecords.Offset(groupId, topic, partition, null));
                    deleted.Add((topic, partition));
                }
            }
            var write = _append(records, null);
            return Finish();

            async Task<(ErrorCode, Dictionary<(string, int), ErrorCode>)> Finish()
            {
                var e = MapOffsetWriteError(await write.ConfigureAwait(false));
                lock (this)
                {
                    if (e != ErrorCode.None) return (e, new Dictionary<(string, int), ErrorCode>());
                    foreach (var tp in deleted) group.Offsets.Remove(tp);
                    return (ErrorCode.None, results);
                }
            }
        }
    }

    /// <summary>
    /// Removes expired offsets (Kafka's rules): an explicit expire timestamp passed; otherwise for an
    /// Empty group with a protocol type, retention after it became Empty; for a group that only
    /// stores offsets (no protocol type), retention after each commit; for a Stable "consumer"
    /// group, retention after the commit for topics no member subscribes to (KIP-496). An Empty group
    /// left without offsets is removed (tombstone). Returns how many offsets expired.
    /// </summary>
    public int ExpireOffsets()
    {
        lock (this)
        {
            if (!_active) return 0;
            long now = _nowMs();
            var records = new List<CoordinatorRecord>();
            int expired = 0;
            foreach (var group in _groups.Values.ToList())
            {
                if (group.Is(ClassicGroupState.Dead)) continue;
                HashSet<string>? subscribed = null;
                bool byState = group.ProtocolType is not null && group.Is(ClassicGroupState.Empty);
                bool simple = group.ProtocolType is null;
                if (!byState && !simple)
                {
                    if (!group.Is(ClassicGroupState.Stable) || (subscribed = group.SubscribedTopics()) is null) continue;
                }
                foreach (var (tp, o) in group.Offsets.ToList())
                {
                    if (subscribed is not null && subscribed.Contains(tp.Topic)) continue;
                    long baseTs = byState ? group.CurrentStateTimestamp : o.CommitTimestamp;
                    bool due = o.ExpireTimestamp is { } at ? at <= now : baseTs + _config.OffsetsRetentionMs <= now;
                    if (!due) continue;
                    group.Offsets.Remove(tp);
                    records.Add(GroupRecords.Offset(group.GroupId, tp.Topic, tp.Partition, null));
                    expired++;
                }
                if (group.Is(ClassicGroupState.Empty) && group.Offsets.Count == 0 && group.PendingMembers.Count == 0)
                {
                    group.TransitionTo(ClassicGroupState.Dead, now);
                    _groups.Remove(group.GroupId);
                    records.Add(GroupRecords.Group(group.GroupId, null));
                }
            }
            if (expired > 0) _log($"{expired} expired offset(s) removed");
            if (records.Count > 0) _ = LogFailure(_append(records, null), "(retention)");
            return expired;
        }
    }

    // ================================================================== records and errors
    /// <summary>Kafka's mapping of a failed offset-commit write.</summary>
    public static ErrorCode MapOffsetWriteError(ErrorCode error) => error switch
    {
        ErrorCode.None => ErrorCode.None,
        ErrorCode.UnknownTopicOrPartition or ErrorCode.NotEnoughReplicas or ErrorCode.NotEnoughReplicasAfterAppend
            or ErrorCode.RequestTimedOut => ErrorCode.CoordinatorNotAvailable,
        ErrorCode.NotLeaderOrFollower or ErrorCode.KafkaStorageError => ErrorCode.NotCoordinator,
        ErrorCode.MessageTooLarge or ErrorCode.RecordListTooLarge or ErrorCode.InvalidFetchSize => ErrorCode.InvalidCommitOffsetSize,
        _ => ErrorCode.UnknownServerError,
    };
}
