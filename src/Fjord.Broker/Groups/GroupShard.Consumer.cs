using Fjord.Broker.Coordinator;
using Fjord.Broker.Groups.Consumer;
using Fjord.Common;
using Fjord.Protocol.Messages;

namespace Fjord.Broker.Groups;

/// <summary>
/// The KIP-848 side of a <c>__consumer_offsets</c> partition: a <see cref="ConsumerGroupManager"/>
/// fed by the shard's replay (record types 3–8), driven by ConsumerGroupHeartbeat /
/// ConsumerGroupDescribe / DeleteGroups and by one expiry timer, all under the shard's lock.
/// </summary>
/// <remarks>
/// <para><b>Ids.</b> A group id is either a classic group or a consumer group. A classic group that
/// has members (or is not Empty) refuses ConsumerGroupHeartbeat with GROUP_ID_NOT_FOUND; a consumer
/// group refuses the classic APIs with GROUP_ID_NOT_FOUND. Committed offsets of a consumer group are
/// kept in the same per-group offset table as classic ones (a <see cref="ClassicGroup"/> entry with
/// no protocol type serves as the holder; it is not listed or described as a classic group).</para>
/// <para><b>Log vs memory.</b> The manager applies its records as it builds them, before they are
/// committed. The shard also keeps the committed consumer records, compacted by key in the order of
/// their latest write (the shape of a compacted log). If an append fails, the manager is rebuilt
/// from them (the state the log really holds) and every member gets a fresh session; batches still
/// in flight that later commit are replayed into the rebuilt manager.</para>
/// <para><b>Timer.</b> One timer per shard, armed for the manager's earliest deadline (session or
/// revocation), re-armed earlier when an operation creates an earlier deadline; when it fires
/// <see cref="ConsumerGroupManager.Expire"/> runs and its records are appended.</para>
/// </remarks>
public sealed partial class GroupShard
{
    private readonly Func<ITopicMetadataSource> _topics = () => StaticTopicMetadata.Empty;
    private readonly ConsumerGroupConfig _consumerConfig = new();
    private ConsumerGroupManager _consumer = new();
    private readonly TimerSlot _consumerExpiry = new();
    private long _consumerExpiryAt = long.MaxValue;
    private readonly LinkedList<CoordinatorRecord> _committedConsumer = new();
    private readonly Dictionary<string, LinkedListNode<CoordinatorRecord>> _committedConsumerIndex = new(StringComparer.Ordinal);
    private int _consumerGeneration;

    /// <summary>A shard that also serves KIP-848 consumer groups with <paramref name="topics"/>
    /// (the current metadata, read at each operation) and <c>config.ConsumerGroups</c>.</summary>
    /// <param name="config">Timeouts, delays, retention; <c>ConsumerGroups</c> for the KIP-848 settings.</param>
    /// <param name="timer">Sessions, rebalance delays, retention checks, consumer-group expiry.</param>
    /// <param name="nowMs">Wall-clock ms (commit timestamps, retention, consumer-group deadlines).</param>
    /// <param name="append">Appends records (called under this shard's lock); completes when committed or failed.</param>
    /// <param name="topics">The topics as the metadata image has them now.</param>
    /// <param name="log">Notable events.</param>
    public GroupShard(GroupCoordinatorConfig config, ICoordinatorTimer timer, Func<long> nowMs,
        Func<IReadOnlyList<CoordinatorRecord>, CoordinatorBatchProducer?, Task<ErrorCode>> append, Func<ITopicMetadataSource> topics,
        Action<string>? log = null)
        : this(config, timer, nowMs, append, log)
    {
        _topics = topics ?? throw new ArgumentNullException(nameof(topics));
        _consumerConfig = config.ConsumerGroups;
        _consumer = new ConsumerGroupManager(_consumerConfig);
    }

    /// <summary>Whether <paramref name="groupId"/> is a consumer (KIP-848) group here.</summary>
    public bool IsConsumerGroup(string groupId)
    {
        lock (this) return _consumer.Contains(groupId);
    }

    /// <summary>The consumer group's live state (tests and tools; read it under no other thread's feet).</summary>
    public ConsumerGroup? ConsumerGroup(string groupId)
    {
        lock (this) return _consumer.Group(groupId);
    }

    /// <summary>The consumer manager's dump (diagnostics).</summary>
    public string DumpConsumerGroups()
    {
        lock (this) return _consumer.Dump();
    }

    // ------------------------------------------------------------------ load / unload (called from the ICoordinatorShard methods)

    private void ReplayConsumerRecord(ReadOnlyMemory<byte> key, ReadOnlyMemory<byte>? value)
    {
        // The byte[] overload: a null value stays a tombstone.
        byte[] keyBytes = key.ToArray();
        byte[]? valueBytes = value?.ToArray();
        if (!ConsumerGroupRecord.TryParse(keyBytes, valueBytes, out var record, out var error)) throw new FormatException(error);
        try
        {
            _consumer.Replay(record!);
        }
        catch (InvalidOperationException e)
        {
            throw new FormatException($"consumer group record {record} does not apply: {e.Message}", e);
        }
        RememberCommitted(new CoordinatorRecord(keyBytes, valueBytes));
    }

    private void OnConsumerLoaded()
    {
        _consumer.OnLoaded(_nowMs());
        _consumerExpiryAt = long.MaxValue;
        ArmConsumerExpiry();
    }

    private void OnConsumerUnloaded()
    {
        _consumerExpiry.Cancel();
        _consumerExpiryAt = long.MaxValue;
        _consumer.Clear();
        _committedConsumer.Clear();
        _committedConsumerIndex.Clear();
    }

    /// <summary>True when a classic group of this id has members or is not Empty (it holds the id).</summary>
    private bool ClassicHolds(string groupId) =>
        _groups.TryGetValue(groupId, out var g) && (g.Members.Count > 0 || g.PendingMembers.Count > 0 || !g.Is(ClassicGroupState.Empty));

    // ------------------------------------------------------------------ APIs

    /// <summary>ConsumerGroupHeartbeat v0–1; answered once its records are committed.</summary>
    public Task<ConsumerGroupHeartbeatResponse> ConsumerGroupHeartbeatAsync(ConsumerGroupHeartbeatRequest request, short version,
        string clientId, string clientHost)
    {
        ArgumentNullException.ThrowIfNull(request);
        static ConsumerGroupHeartbeatResponse Error(ErrorCode e, string? message = null) =>
            new() { ErrorCode = (short)e, ErrorMessage = message ?? e.ToString() };
        lock (this)
        {
            if (!_active) return Task.FromResult(Error(ErrorCode.NotCoordinator));
            if (request.GroupId is { Length: > 0 } gid && ClassicHolds(gid))
                return Task.FromResult(Error(ErrorCode.GroupIdNotFound, $"Group {gid} is not a consumer group."));
            ConsumerGroupResult<ConsumerGroupHeartbeatResponse> result;
            try
            {
                result = _consumer.Heartbeat(request, version, new ConsumerGroupClient(clientId, clientHost), _topics(), _nowMs());
            }
            catch (InvalidOperationException e)
            {
                _log($"consumer group heartbeat of {request.GroupId} failed: {e.Message}; rebuilding from the log");
                RebuildConsumer();
                return Task.FromResult(Error(ErrorCode.UnknownServerError));
            }
            var write = AppendConsumer(result.Records, "heartbeat");
            ArmConsumerExpiry();
            return Finish();

            async Task<ConsumerGroupHeartbeatResponse> Finish()
            {
                var e = await write.ConfigureAwait(false);
                return e == ErrorCode.None ? result.Response : Error(e);
            }
        }
    }

    /// <summary>ConsumerGroupDescribe of one group (AuthorizedOperations is left to the caller).</summary>
    public ConsumerGroupDescribeResponse.DescribedGroup DescribeConsumerGroup(string groupId, short version)
    {
        lock (this)
        {
            if (!_active) return new() { GroupId = groupId, ErrorCode = (short)ErrorCode.NotCoordinator };
            return _consumer.DescribeGroup(groupId, version, _topics());
        }
    }

    /// <summary>ListGroups: every consumer group with its state (Empty, Assigning, Reconciling, Stable).</summary>
    public List<(string GroupId, string State)> ListConsumerGroups()
    {
        lock (this)
        {
            if (!_active) return [];
            return [.. _consumer.GroupIds.Select(id => (id, _consumer.Group(id)!.State.ToString()))];
        }
    }

    /// <summary>DeleteGroups of a consumer group: it must be empty (NON_EMPTY_GROUP); its offsets go too.</summary>
    public Task<ErrorCode> DeleteConsumerGroupAsync(string groupId)
    {
        lock (this)
        {
            if (!_active) return Task.FromResult(ErrorCode.NotCoordinator);
            var result = _consumer.DeleteGroup(groupId);
            if (result.Response != ErrorCode.None) return Task.FromResult(result.Response);
            var holder = _groups.GetValueOrDefault(groupId);
            var offsets = holder?.Offsets.Keys.ToList() ?? [];
            var records = offsets.Select(tp => GroupRecords.Offset(groupId, tp.Topic, tp.Partition, null)).ToList();
            if (holder is { ProtocolType: not null }) records.Add(GroupRecords.Group(groupId, null));
            records.AddRange(result.Records.Select(r => new CoordinatorRecord(r.KeyBytes(), r.ValueBytes())));
            // The manager already forgot the group; the offsets go once committed.
            var write = AppendConsumerBatch(records, result.Records, "delete");
            return Finish();

            async Task<ErrorCode> Finish()
            {
                var e = await write.ConfigureAwait(false);
                if (e != ErrorCode.None) return e;
                lock (this)
                {
                    if (_active && ReferenceEquals(_groups.GetValueOrDefault(groupId), holder) && holder is not null)
                    {
                        foreach (var tp in offsets) holder.Offsets.Remove(tp);
                        if (holder.Offsets.Count == 0 && holder.Members.Count == 0) _groups.Remove(groupId);
                    }
                }
                return ErrorCode.None;
            }
        }
    }

    /// <summary>OffsetFetch v9+: for a consumer group, the member (when given) must exist with its
    /// current epoch; NONE for any other group.</summary>
    public ErrorCode ValidateConsumerOffsetFetch(string groupId, string? memberId, int memberEpoch)
    {
        lock (this)
        {
            if (!_active) return ErrorCode.NotCoordinator;
            return _consumer.Contains(groupId) ? _consumer.ValidateOffsetFetch(groupId, memberId, memberEpoch) : ErrorCode.None;
        }
    }

    /// <summary>Runs <see cref="ConsumerGroupManager.Expire"/> now (the timer does it at each deadline).</summary>
    public IReadOnlyList<(string GroupId, string MemberId)> ExpireConsumerMembers()
    {
        lock (this)
        {
            if (!_active) return [];
            var result = _consumer.Expire(_topics(), _nowMs());
            foreach (var (g, m) in result.Response) _log($"consumer group {g}: member {m} expired");
            if (result.Records.Count > 0) _ = AppendConsumer(result.Records, "expiry");
            return result.Response;
        }
    }

    // ------------------------------------------------------------------ timer

    /// <summary>Under the lock: arms the expiry timer if the manager's next deadline is earlier than the armed one.</summary>
    private void ArmConsumerExpiry()
    {
        if (!_active) return;
        if (_consumer.NextDeadlineMs is not { } next || next >= _consumerExpiryAt) return;
        _consumerExpiryAt = next;
        _consumerExpiry.Set(_timer.Schedule(Math.Max(0, next - _nowMs()), OnConsumerExpiry));
    }

    private void OnConsumerExpiry()
    {
        lock (this)
        {
            if (!_active) return;
            _consumerExpiryAt = long.MaxValue;
            try
            {
                ExpireConsumerMembers();
            }
            catch (InvalidOperationException e)
            {
                _log($"consumer group expiry failed: {e.Message}; rebuilding from the log");
                RebuildConsumer();
            }
            ArmConsumerExpiry();
        }
    }

    // ------------------------------------------------------------------ appends and rebuilds

    private Task<ErrorCode> AppendConsumer(IReadOnlyList<ConsumerGroupRecord> records, string what) =>
        AppendConsumerBatch([.. records.Select(r => new CoordinatorRecord(r.KeyBytes(), r.ValueBytes()))], records, what);

    /// <summary>Under the lock: appends <paramref name="batch"/> (which carries <paramref name="consumerRecords"/>);
    /// completes with the mapped error. On failure the manager is rebuilt from the committed records.</summary>
    private Task<ErrorCode> AppendConsumerBatch(List<CoordinatorRecord> batch, IReadOnlyList<ConsumerGroupRecord> consumerRecords, string what)
    {
        if (batch.Count == 0) return Task.FromResult(ErrorCode.None);
        int generation = _consumerGeneration;
        var write = _append(batch, null);
        return Completed();

        async Task<ErrorCode> Completed()
        {
            var raw = await write.ConfigureAwait(false);
            lock (this)
            {
                if (!_active) return raw == ErrorCode.None ? ErrorCode.None : ErrorCode.NotCoordinator;
                if (raw != ErrorCode.None)
                {
                    _log($"consumer group write ({what}) failed: {raw}; rebuilding the consumer groups from the log");
                    if (generation == _consumerGeneration) RebuildConsumer();
                    return MapConsumerWriteError(raw);
                }
                foreach (var r in consumerRecords) RememberCommitted(new CoordinatorRecord(r.KeyBytes(), r.ValueBytes()));
                if (generation != _consumerGeneration)
                {
                    // Built before a rebuild: the rebuilt manager has not seen these records yet.
                    try
                    {
                        foreach (var r in consumerRecords) _consumer.Replay(r);
                    }
                    catch (InvalidOperationException e)
                    {
                        _log($"replaying a late-committed consumer batch failed: {e.Message}; rebuilding");
                        RebuildConsumer();
                    }
                }
                return ErrorCode.None;
            }
        }
    }

    private void RememberCommitted(CoordinatorRecord record)
    {
        string key = Convert.ToHexString(record.Key);
        if (_committedConsumerIndex.Remove(key, out var node)) _committedConsumer.Remove(node);
        if (record.Value is null) return;
        _committedConsumerIndex[key] = _committedConsumer.AddLast(record);
    }

    /// <summary>Under the lock: a new manager from the committed records (latest write order), fresh sessions.</summary>
    private void RebuildConsumer()
    {
        _consumerGeneration++;
        var fresh = new ConsumerGroupManager(_consumerConfig);
        foreach (var record in _committedConsumer)
        {
            try
            {
                if (ConsumerGroupRecord.TryParse(record.Key, record.Value, out var r, out _)) fresh.Replay(r!);
            }
            catch (InvalidOperationException e)
            {
                _log($"rebuilding consumer groups: a committed record does not apply: {e.Message}");
            }
        }
        _consumer = fresh;
        _consumer.OnLoaded(_nowMs());
        _consumerExpiry.Cancel();
        _consumerExpiryAt = long.MaxValue;
        ArmConsumerExpiry();
    }

    /// <summary>Kafka's mapping of a failed consumer-group write (the new group coordinator's).</summary>
    public static ErrorCode MapConsumerWriteError(ErrorCode error) => error switch
    {
        ErrorCode.None => ErrorCode.None,
        ErrorCode.UnknownTopicOrPartition or ErrorCode.NotEnoughReplicas or ErrorCode.NotEnoughReplicasAfterAppend
            or ErrorCode.RequestTimedOut => ErrorCode.CoordinatorNotAvailable,
        ErrorCode.NotLeaderOrFollower or ErrorCode.KafkaStorageError => ErrorCode.NotCoordinator,
        _ => ErrorCode.UnknownServerError,
    };
}
