using Fjord.Broker.Coordinator;
using Fjord.Broker.Replication;
using Fjord.Common;
using Fjord.Metadata;
using Fjord.Protocol.Messages;

namespace Fjord.Broker.Groups;

/// <summary>
/// The broker's classic group coordinator: the <c>__consumer_offsets</c> runtime (one
/// <see cref="GroupShard"/> per partition led here) and the request handlers (FindCoordinator,
/// JoinGroup, SyncGroup, Heartbeat, LeaveGroup, OffsetCommit, OffsetFetch, OffsetDelete,
/// ListGroups, DescribeGroups, DeleteGroups, TxnOffsetCommit), each version-aware. A group's requests go to the shard
/// of <c>abs(javaHash(groupId)) % offsets.topic.num.partitions</c>; a partition not led (or not yet
/// loaded) here answers NOT_COORDINATOR (COORDINATOR_LOAD_IN_PROGRESS).
/// </summary>
public sealed class GroupCoordinator : IDisposable
{
    public const string TopicName = "__consumer_offsets";

    private readonly GroupCoordinatorConfig _config;
    private readonly Func<MetadataImage> _image;
    private readonly CoordinatorScheduler _scheduler;

    public GroupCoordinator(GroupCoordinatorConfig config, ReplicaManager replicas, IControllerChannel? controller, Func<MetadataImage> image,
        IClock clock, Action<string>? log = null)
    {
        _config = config ?? throw new ArgumentNullException(nameof(config));
        _image = image ?? throw new ArgumentNullException(nameof(image));
        ArgumentNullException.ThrowIfNull(clock);
        var sink = log ?? (_ => { });
        _scheduler = new CoordinatorScheduler(() => clock.MonotonicMs, sink);
        CoordinatorRuntime<GroupShard>? runtime = null;
        runtime = new CoordinatorRuntime<GroupShard>(new CoordinatorRuntimeOptions
        {
            TopicName = TopicName,
            Partitions = config.OffsetsTopicPartitions,
            ReplicationFactor = config.OffsetsTopicReplicationFactor,
            AppendTimeoutMs = config.OffsetCommitTimeoutMs,
            TopicConfigs = new Dictionary<string, string>
            {
                ["cleanup.policy"] = "compact",
                ["compression.type"] = "producer",
                ["segment.bytes"] = config.OffsetsTopicSegmentBytes.ToString(System.Globalization.CultureInfo.InvariantCulture),
            },
        }, replicas, controller, image,
            (partition, epoch) => new GroupShard(config, _scheduler, () => clock.UnixTimeMs,
                (records, producer) => runtime!.AppendAsync(partition, epoch, records, producer),
                () => new Consumer.ImageTopicMetadata(image()),
                line => sink($"[group coordinator {TopicName}-{partition}] {line}")),
            clock, sink);
        Runtime = runtime;
        _replicas = replicas;
        replicas.TransactionMarkersWritten += OnTransactionMarkersWritten;
    }

    private readonly ReplicaManager _replicas;

    /// <summary>
    /// A COMMIT/ABORT marker is committed on partitions this broker leads: for each
    /// <c>__consumer_offsets</c> partition among them whose shard is here (loading or active), the
    /// producer's pending transactional offset commits are applied or dropped. (A shard still loading
    /// also replays the marker if it lies below its load end; completing twice is harmless.)
    /// </summary>
    private void OnTransactionMarkersWritten(long producerId, bool commit, IReadOnlyList<Fjord.Storage.TopicPartition> partitions)
    {
        HashSet<int>? mine = null;
        foreach (var tp in partitions)
            if (tp.Topic == TopicName) (mine ??= []).Add(tp.Partition);
        if (mine is null) return;
        foreach (var context in Runtime.Contexts)
        {
            if (!mine.Contains(context.PartitionId)) continue;
            lock (context.Lock)
            {
                if (context.State == CoordinatorShardState.Unloaded) continue;
                context.Shard.CompleteTransaction(producerId, commit);
            }
        }
    }

    /// <summary>The runtime: install it in the metadata loader after the replica manager.</summary>
    public CoordinatorRuntime<GroupShard> Runtime { get; }

    /// <summary>Answers FindCoordinator for TRANSACTION keys when set (the transaction coordinator's runtime).</summary>
    public ICoordinatorLocator? TransactionLocator { get; set; }

    private GroupShard? ShardFor(string groupId, out ErrorCode error) => Runtime.ContextFor(groupId, out error)?.Shard;

    // ------------------------------------------------------------------ FindCoordinator

    public FindCoordinatorResponse FindCoordinator(FindCoordinatorRequest request, short version, string listenerName)
    {
        ArgumentNullException.ThrowIfNull(request);
        var response = new FindCoordinatorResponse();
        if (version < 4)
        {
            var (error, location) = Locate(request.Key, request.KeyType, listenerName);
            response.ErrorCode = (short)error;
            response.ErrorMessage = error == ErrorCode.None ? null : location.Message ?? error.ToString();
            response.NodeId = location.NodeId;
            response.Host = location.Host;
            response.Port = location.Port;
            return response;
        }
        foreach (var key in request.CoordinatorKeys)
        {
            var (error, location) = Locate(key, request.KeyType, listenerName);
            response.Coordinators.Add(new FindCoordinatorResponse.Coordinator
            {
                Key = key,
                NodeId = location.NodeId,
                Host = location.Host,
                Port = location.Port,
                ErrorCode = (short)error,
                ErrorMessage = error == ErrorCode.None ? null : location.Message ?? error.ToString(),
            });
        }
        return response;
    }

    private (ErrorCode, CoordinatorLocation) Locate(string key, sbyte keyType, string listenerName)
    {
        switch (keyType)
        {
            case 0:
                var g = Runtime.Locate(key, listenerName);
                return (g.Error, g);
            case 1:
                if (string.IsNullOrEmpty(key)) return (ErrorCode.InvalidRequest, new CoordinatorLocation(ErrorCode.InvalidRequest, -1, "", -1, "empty transactional id"));
                var t = TransactionLocator?.Locate(key, listenerName) ?? CoordinatorLocation.NotAvailable("no transaction coordinator runs on this broker yet");
                return (t.Error, t);
            default:
                return (ErrorCode.InvalidRequest, new CoordinatorLocation(ErrorCode.InvalidRequest, -1, "", -1, $"unsupported key type {keyType}"));
        }
    }

    // ------------------------------------------------------------------ membership

    public async Task<JoinGroupResponse> JoinGroupAsync(JoinGroupRequest request, short version, string clientId, string clientHost)
    {
        ArgumentNullException.ThrowIfNull(request);
        JoinResult result;
        var shard = ShardFor(request.GroupId, out var error);
        if (shard is null) result = JoinResult.Failed(error, request.MemberId);
        else
        {
            // v0: no rebalance timeout (the session timeout is used).
            int rebalance = version >= 1 && request.RebalanceTimeoutMs > 0 ? request.RebalanceTimeoutMs : request.SessionTimeoutMs;
            result = await shard.JoinAsync(new JoinParams(request.GroupId, request.MemberId, version >= 5 ? request.GroupInstanceId : null,
                clientId, clientHost, request.SessionTimeoutMs, rebalance, request.ProtocolType,
                [.. request.Protocols.Select(p => (p.Name, p.Metadata))], RequireKnownMemberId: version >= 4, SupportsSkipAssignment: version >= 9))
                .ConfigureAwait(false);
        }
        var response = new JoinGroupResponse
        {
            ErrorCode = (short)result.Error,
            GenerationId = result.Generation,
            ProtocolType = result.ProtocolType,
            ProtocolName = version >= 7 ? result.ProtocolName : result.ProtocolName ?? "",
            Leader = result.LeaderId,
            SkipAssignment = result.SkipAssignment,
            MemberId = result.MemberId,
            Members = [.. result.Members.Select(m => new JoinGroupResponse.JoinGroupResponseMember { MemberId = m.MemberId, GroupInstanceId = m.InstanceId, Metadata = m.Metadata })],
        };
        // Before v4 (no MEMBER_ID_REQUIRED) and for static members the error is never MEMBER_ID_REQUIRED.
        return response;
    }

    public async Task<SyncGroupResponse> SyncGroupAsync(SyncGroupRequest request, short version)
    {
        ArgumentNullException.ThrowIfNull(request);
        SyncResult result;
        var shard = ShardFor(request.GroupId, out var error);
        if (shard is null) result = SyncResult.Failed(error);
        else if (shard.IsConsumerGroup(request.GroupId)) result = SyncResult.Failed(ErrorCode.GroupIdNotFound);
        else
        {
            var assignments = new Dictionary<string, byte[]>(StringComparer.Ordinal);
            foreach (var a in request.Assignments) assignments[a.MemberId] = a.Assignment;
            result = await shard.SyncAsync(request.GroupId, request.GenerationId, request.MemberId, version >= 3 ? request.GroupInstanceId : null,
                version >= 5 ? request.ProtocolType : null, version >= 5 ? request.ProtocolName : null, assignments).ConfigureAwait(false);
        }
        return new SyncGroupResponse
        {
            ErrorCode = (short)result.Error,
            ProtocolType = result.ProtocolType,
            ProtocolName = result.ProtocolName,
            Assignment = result.Assignment,
        };
    }

    public HeartbeatResponse Heartbeat(HeartbeatRequest request, short version)
    {
        ArgumentNullException.ThrowIfNull(request);
        var shard = ShardFor(request.GroupId, out var error);
        if (shard is not null)
            error = shard.IsConsumerGroup(request.GroupId) ? ErrorCode.GroupIdNotFound
                : shard.Heartbeat(request.GroupId, request.GenerationId, request.MemberId, version >= 3 ? request.GroupInstanceId : null);
        return new HeartbeatResponse { ErrorCode = (short)error };
    }

    public LeaveGroupResponse LeaveGroup(LeaveGroupRequest request, short version)
    {
        ArgumentNullException.ThrowIfNull(request);
        var members = version >= 3
            ? request.Members.Select(m => (m.MemberId, m.GroupInstanceId)).ToList()
            : [(request.MemberId, (string?)null)];
        var response = new LeaveGroupResponse();
        var shard = ShardFor(request.GroupId, out var error);
        if (shard is null || shard.IsConsumerGroup(request.GroupId))
        {
            response.ErrorCode = (short)(shard is null ? error : ErrorCode.GroupIdNotFound);
            return response;
        }
        var (top, results) = shard.Leave(request.GroupId, members);
        if (version < 3)
        {
            response.ErrorCode = (short)(top != ErrorCode.None ? top : results.Count > 0 ? results[0].Error : ErrorCode.None);
            return response;
        }
        response.ErrorCode = (short)top;
        response.Members = [.. results.Select(r => new LeaveGroupResponse.MemberResponse { MemberId = r.MemberId, GroupInstanceId = r.InstanceId, ErrorCode = (short)r.Error })];
        return response;
    }

    // ------------------------------------------------------------------ offsets

    public async Task<OffsetCommitResponse> OffsetCommitAsync(OffsetCommitRequest request, short version)
    {
        ArgumentNullException.ThrowIfNull(request);
        var image = _image();
        var response = new OffsetCommitResponse();
        var answers = new Dictionary<(string, int), OffsetCommitResponse.OffsetCommitResponsePartition>();
        var toCommit = new List<OffsetToCommit>();
        foreach (var topic in request.Topics)
        {
            string? name = version >= 10 ? image.Topics.Topic(topic.TopicId)?.Name : topic.Name;
            var t = new OffsetCommitResponse.OffsetCommitResponseTopic { Name = topic.Name, TopicId = topic.TopicId };
            response.Topics.Add(t);
            foreach (var p in topic.Partitions)
            {
                var answer = new OffsetCommitResponse.OffsetCommitResponsePartition { PartitionIndex = p.PartitionIndex };
                t.Partitions.Add(answer);
                var known = name is null ? null : image.Topics.Topic(name);
                if (known is null || known.Partition(p.PartitionIndex) is null)
                {
                    answer.ErrorCode = (short)(version >= 10 ? ErrorCode.UnknownTopicId : ErrorCode.UnknownTopicOrPartition);
                    continue;
                }
                answers[(name!, p.PartitionIndex)] = answer;
                toCommit.Add(new OffsetToCommit(name!, p.PartitionIndex, p.CommittedOffset, version >= 6 ? p.CommittedLeaderEpoch : -1, p.CommittedMetadata));
            }
        }
        if (toCommit.Count == 0) return response;
        var shard = ShardFor(request.GroupId, out var error);
        if (shard is null)
        {
            foreach (var a in answers.Values) a.ErrorCode = (short)error;
            return response;
        }
        int generation = version >= 1 ? request.GenerationIdOrMemberEpoch : -1;
        string memberId = version >= 1 ? request.MemberId : "";
        long retention = version is >= 2 and <= 4 ? request.RetentionTimeMs : -1;
        var results = await shard.CommitOffsetsAsync(request.GroupId, generation, memberId, version >= 7 ? request.GroupInstanceId : null, retention, toCommit)
            .ConfigureAwait(false);
        foreach (var (tp, code) in results)
            if (answers.TryGetValue(tp, out var a)) a.ErrorCode = (short)code;
        return response;
    }

    /// <summary>
    /// TxnOffsetCommit v0-4 (v2+: leader epochs; v3+: generation, member id and group instance id
    /// checked as for a member's commit). Unknown topics or partitions answer
    /// UNKNOWN_TOPIC_OR_PARTITION; the others are written as one transactional batch of the request's
    /// producer (see <see cref="GroupShard.CommitTransactionalOffsetsAsync"/>).
    /// </summary>
    public async Task<TxnOffsetCommitResponse> TxnOffsetCommitAsync(TxnOffsetCommitRequest request, short version)
    {
        ArgumentNullException.ThrowIfNull(request);
        var image = _image();
        var response = new TxnOffsetCommitResponse();
        var answers = new Dictionary<(string, int), TxnOffsetCommitResponse.TxnOffsetCommitResponsePartition>();
        var toCommit = new List<OffsetToCommit>();
        foreach (var topic in request.Topics)
        {
            var t = new TxnOffsetCommitResponse.TxnOffsetCommitResponseTopic { Name = topic.Name };
            response.Topics.Add(t);
            var known = image.Topics.Topic(topic.Name);
            foreach (var p in topic.Partitions)
            {
                var answer = new TxnOffsetCommitResponse.TxnOffsetCommitResponsePartition { PartitionIndex = p.PartitionIndex };
                t.Partitions.Add(answer);
                if (known?.Partition(p.PartitionIndex) is null)
                {
                    answer.ErrorCode = (short)ErrorCode.UnknownTopicOrPartition;
                    continue;
                }
                answers[(topic.Name, p.PartitionIndex)] = answer;
                toCommit.Add(new OffsetToCommit(topic.Name, p.PartitionIndex, p.CommittedOffset, version >= 2 ? p.CommittedLeaderEpoch : -1, p.CommittedMetadata));
            }
        }
        if (toCommit.Count == 0) return response;
        var shard = ShardFor(request.GroupId, out var error);
        if (shard is null)
        {
            foreach (var a in answers.Values) a.ErrorCode = (short)error;
            return response;
        }
        var results = await shard.CommitTransactionalOffsetsAsync(request.GroupId, request.ProducerId, request.ProducerEpoch,
            version >= 3 ? request.GenerationId : -1, version >= 3 ? request.MemberId ?? "" : "", version >= 3 ? request.GroupInstanceId : null, toCommit)
            .ConfigureAwait(false);
        foreach (var (tp, code) in results)
            if (answers.TryGetValue(tp, out var a)) a.ErrorCode = (short)code;
        return response;
    }

    public OffsetFetchResponse OffsetFetch(OffsetFetchRequest request, short version)
    {
        ArgumentNullException.ThrowIfNull(request);
        var response = new OffsetFetchResponse();
        if (version < 8)
        {
            var topics = request.Topics?.Select(t => (t.Name, (IReadOnlyList<int>)t.PartitionIndexes)).ToList();
            var (error, offsets) = FetchGroup(request.GroupId, topics, version >= 7 && request.RequireStable);
            if (error != ErrorCode.None && version < 2)
            {
                // v0-1 have no top-level error: every requested partition carries it.
                offsets = [.. (topics ?? []).SelectMany(t => t.Item2.Select(p => new FetchedOffset(t.Name, p, -1, -1, "", error)))];
            }
            else if (version >= 2) response.ErrorCode = (short)error;
            foreach (var group in offsets.GroupBy(o => o.Topic))
                response.Topics.Add(new OffsetFetchResponse.OffsetFetchResponseTopic
                {
                    Name = group.Key,
                    Partitions = [.. group.Select(o => new OffsetFetchResponse.OffsetFetchResponsePartition
                    {
                        PartitionIndex = o.Partition, CommittedOffset = o.Offset, CommittedLeaderEpoch = o.LeaderEpoch, Metadata = o.Metadata, ErrorCode = (short)o.Error,
                    })],
                });
            return response;
        }
        var image = _image();
        foreach (var g in request.Groups)
        {
            var topics = g.Topics?.Select(t => (version >= 10 ? image.Topics.Topic(t.TopicId)?.Name ?? "" : t.Name, (IReadOnlyList<int>)t.PartitionIndexes)).ToList();
            var (error, offsets) = version >= 9 && ShardFor(g.GroupId, out _) is { } fetchShard
                && fetchShard.ValidateConsumerOffsetFetch(g.GroupId, g.MemberId, g.MemberEpoch) is var check and not ErrorCode.None
                ? (check, new List<FetchedOffset>())
                : FetchGroup(g.GroupId, topics, request.RequireStable);
            var answer = new OffsetFetchResponse.OffsetFetchResponseGroup { GroupId = g.GroupId, ErrorCode = (short)error };
            foreach (var group in offsets.GroupBy(o => o.Topic))
                answer.Topics.Add(new OffsetFetchResponse.OffsetFetchResponseTopics
                {
                    Name = group.Key,
                    TopicId = version >= 10 ? image.Topics.Topic(group.Key)?.Id ?? default : default,
                    Partitions = [.. group.Select(o => new OffsetFetchResponse.OffsetFetchResponsePartitions
                    {
                        PartitionIndex = o.Partition, CommittedOffset = o.Offset, CommittedLeaderEpoch = o.LeaderEpoch, Metadata = o.Metadata, ErrorCode = (short)o.Error,
                    })],
                });
            response.Groups.Add(answer);
        }
        return response;
    }

    private (ErrorCode, List<FetchedOffset>) FetchGroup(string groupId, IReadOnlyList<(string, IReadOnlyList<int>)>? topics, bool requireStable)
    {
        var shard = ShardFor(groupId, out var error);
        return shard is null ? (error, []) : shard.FetchOffsets(groupId, topics, requireStable);
    }

    public async Task<OffsetDeleteResponse> OffsetDeleteAsync(OffsetDeleteRequest request, short version)
    {
        ArgumentNullException.ThrowIfNull(request);
        var image = _image();
        var response = new OffsetDeleteResponse();
        var partitions = new List<(string, int)>();
        foreach (var t in request.Topics)
            foreach (var p in t.Partitions)
                if (image.Topics.Topic(t.Name)?.Partition(p.PartitionIndex) is not null) partitions.Add((t.Name, p.PartitionIndex));
        var shard = ShardFor(request.GroupId, out var error);
        Dictionary<(string Topic, int Partition), ErrorCode> results = [];
        if (shard is not null) (error, results) = await shard.DeleteOffsetsAsync(request.GroupId, partitions).ConfigureAwait(false);
        response.ErrorCode = (short)error;
        if (error != ErrorCode.None) return response;
        foreach (var t in request.Topics)
        {
            var answer = new OffsetDeleteResponse.OffsetDeleteResponseTopic { Name = t.Name };
            foreach (var p in t.Partitions)
                answer.Partitions.Add(new OffsetDeleteResponse.OffsetDeleteResponsePartition
                {
                    PartitionIndex = p.PartitionIndex,
                    ErrorCode = (short)(results.TryGetValue((t.Name, p.PartitionIndex), out var e) ? e : ErrorCode.UnknownTopicOrPartition),
                });
            response.Topics.Add(answer);
        }
        return response;
    }

    // ------------------------------------------------------------------ admin

    public ListGroupsResponse ListGroups(ListGroupsRequest request, short version)
    {
        ArgumentNullException.ThrowIfNull(request);
        var response = new ListGroupsResponse();
        var states = version >= 4 ? request.StatesFilter : [];
        var types = version >= 5 ? request.TypesFilter : [];
        foreach (var context in Runtime.Contexts)
        {
            if (context.State == CoordinatorShardState.Loading)
            {
                response.ErrorCode = (short)ErrorCode.CoordinatorLoadInProgress;
                continue;
            }
            foreach (var (groupId, state) in context.Shard.ListConsumerGroups())
            {
                if (states.Count > 0 && !states.Contains(state, StringComparer.OrdinalIgnoreCase)) continue;
                if (types.Count > 0 && !types.Contains("consumer", StringComparer.OrdinalIgnoreCase)) continue;
                response.Groups.Add(new ListGroupsResponse.ListedGroup { GroupId = groupId, ProtocolType = "consumer", GroupState = state, GroupType = "consumer" });
            }
            foreach (var (groupId, protocolType, state) in context.Shard.List())
            {
                if (context.Shard.IsConsumerGroup(groupId)) continue; // the offsets holder of a consumer group
                if (states.Count > 0 && !states.Contains(state, StringComparer.OrdinalIgnoreCase)) continue;
                if (types.Count > 0 && !types.Contains("classic", StringComparer.OrdinalIgnoreCase)) continue;
                response.Groups.Add(new ListGroupsResponse.ListedGroup { GroupId = groupId, ProtocolType = protocolType, GroupState = state, GroupType = "classic" });
            }
        }
        return response;
    }

    public DescribeGroupsResponse DescribeGroups(DescribeGroupsRequest request, short version)
    {
        ArgumentNullException.ThrowIfNull(request);
        var response = new DescribeGroupsResponse();
        foreach (var groupId in request.Groups)
        {
            var shard = ShardFor(groupId, out var error);
            var described = new DescribeGroupsResponse.DescribedGroup { GroupId = groupId };
            if (version >= 3 && request.IncludeAuthorizedOperations) described.AuthorizedOperations = (1 << 3) | (1 << 6) | (1 << 8); // READ, DELETE, DESCRIBE
            if (shard is null)
            {
                described.ErrorCode = (short)error;
                response.Groups.Add(described);
                continue;
            }
            var (describeError, sum) = shard.IsConsumerGroup(groupId) ? (ErrorCode.GroupIdNotFound, default(GroupSummary)!) : shard.Describe(groupId);
            if (describeError != ErrorCode.None)
            {
                described.ErrorCode = (short)describeError;
                response.Groups.Add(described);
                continue;
            }
            described.GroupState = sum.State;
            described.ProtocolType = sum.ProtocolType;
            described.ProtocolData = sum.Protocol;
            described.Members = [.. sum.Members.Select(m => new DescribeGroupsResponse.DescribedGroupMember
            {
                MemberId = m.MemberId, GroupInstanceId = m.InstanceId, ClientId = m.ClientId, ClientHost = m.ClientHost,
                MemberMetadata = m.Metadata, MemberAssignment = m.Assignment,
            })];
            response.Groups.Add(described);
        }
        return response;
    }

    public async Task<DeleteGroupsResponse> DeleteGroupsAsync(DeleteGroupsRequest request, short version)
    {
        ArgumentNullException.ThrowIfNull(request);
        var response = new DeleteGroupsResponse();
        var pending = request.GroupsNames.Distinct(StringComparer.Ordinal).Select(async groupId =>
        {
            var shard = ShardFor(groupId, out var error);
            if (shard is not null)
                error = shard.IsConsumerGroup(groupId)
                    ? await shard.DeleteConsumerGroupAsync(groupId).ConfigureAwait(false)
                    : await shard.DeleteGroupAsync(groupId).ConfigureAwait(false);
            return (groupId, error);
        }).ToList();
        foreach (var (groupId, error) in await Task.WhenAll(pending).ConfigureAwait(false))
            response.Results.Add(new DeleteGroupsResponse.DeletableGroupResult { GroupId = groupId, ErrorCode = (short)error });
        return response;
    }

    // ------------------------------------------------------------------ KIP-848 consumer groups

    /// <summary>ConsumerGroupHeartbeat v0–1, on the group's shard (answered once its records are committed).</summary>
    public async Task<ConsumerGroupHeartbeatResponse> ConsumerGroupHeartbeatAsync(ConsumerGroupHeartbeatRequest request, short version,
        string clientId, string clientHost)
    {
        ArgumentNullException.ThrowIfNull(request);
        var shard = ShardFor(request.GroupId ?? "", out var error);
        if (shard is null) return new ConsumerGroupHeartbeatResponse { ErrorCode = (short)error, ErrorMessage = error.ToString() };
        return await shard.ConsumerGroupHeartbeatAsync(request, version, clientId, clientHost).ConfigureAwait(false);
    }

    /// <summary>ConsumerGroupDescribe v0–1. Without ACLs every operation a group has is reported
    /// authorized (READ, DELETE, DESCRIBE) when asked; otherwise Kafka's "not requested" value.</summary>
    public ConsumerGroupDescribeResponse ConsumerGroupDescribe(ConsumerGroupDescribeRequest request, short version)
    {
        ArgumentNullException.ThrowIfNull(request);
        var response = new ConsumerGroupDescribeResponse();
        foreach (var groupId in request.GroupIds)
        {
            var shard = ShardFor(groupId ?? "", out var error);
            var described = shard is null
                ? new ConsumerGroupDescribeResponse.DescribedGroup { GroupId = groupId ?? "", ErrorCode = (short)error, ErrorMessage = error.ToString() }
                : shard.DescribeConsumerGroup(groupId ?? "", version);
            described.AuthorizedOperations = request.IncludeAuthorizedOperations ? (1 << 3) | (1 << 6) | (1 << 8) : int.MinValue;
            response.Groups.Add(described);
        }
        return response;
    }

    public void Dispose()
    {
        _replicas.TransactionMarkersWritten -= OnTransactionMarkersWritten;
        Runtime.Dispose();
        _scheduler.Dispose();
    }
}
