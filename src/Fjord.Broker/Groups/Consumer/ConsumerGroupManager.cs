using System.Text.RegularExpressions;
using Fjord.Common;
using Fjord.Protocol.Messages;

namespace Fjord.Broker.Groups.Consumer;

/// <summary>Who sent a request (persisted in the member metadata).</summary>
public sealed record ConsumerGroupClient(string ClientId, string ClientHost);

/// <summary>The outcome of an operation: the records it wrote (already applied to the state) and its answer.</summary>
public sealed record ConsumerGroupResult<T>(IReadOnlyList<ConsumerGroupRecord> Records, T Response);

/// <summary>
/// The KIP-848 consumer group protocol, server side, for the groups of one coordinator
/// (one <c>__consumer_offsets</c> partition): ConsumerGroupHeartbeat, ConsumerGroupDescribe,
/// session and revocation timeouts, and the records that persist it all.
/// <para>Deterministic and single-threaded: no threads, no I/O, no clock; every call gets the
/// current time (<c>nowMs</c>, monotonic milliseconds) and the current topics. The caller
/// serialises calls (the coordinator runtime's event loop).</para>
/// <para>State changes only through <see cref="Replay"/>: each operation builds records and applies
/// them as it goes, and returns them. The runtime appends them to the log before answering; if the
/// append fails, it must drop this manager and rebuild it from the log (Kafka reverts to its last
/// committed snapshot instead).</para>
/// </summary>
public sealed partial class ConsumerGroupManager
{
    public const int JoinEpoch = 0;
    public const int LeaveEpoch = -1;
    public const int StaticLeaveEpoch = -2;

    private readonly Dictionary<string, ConsumerGroup> _groups = new(StringComparer.Ordinal);
    private readonly MemberTimers _timers = new();
    private readonly Func<string> _newMemberId;

    /// <param name="config">protocol settings</param>
    /// <param name="newMemberId">member ids for v0 joins (default: a random UUID in Kafka's base64 form)</param>
    public ConsumerGroupManager(ConsumerGroupConfig? config = null, Func<string>? newMemberId = null)
    {
        Config = config ?? new ConsumerGroupConfig();
        if (Config.Assignors.Count == 0) throw new ArgumentException("at least one assignor is required", nameof(config));
        _newMemberId = newMemberId ?? (() => Uuid.NewRandom().ToString());
    }

    public ConsumerGroupConfig Config { get; }

    public IReadOnlyCollection<string> GroupIds => _groups.Keys;

    public ConsumerGroup? Group(string groupId) => _groups.GetValueOrDefault(groupId);

    /// <summary>True when a consumer (KIP-848) group of this id exists (the classic coordinator must
    /// then refuse the id).</summary>
    public bool Contains(string groupId) => _groups.ContainsKey(groupId);

    /// <summary>The earliest session or revocation deadline, or null when no member has one.</summary>
    public long? NextDeadlineMs => _timers.Next();

    /// <summary>The member's session deadline (for tests and diagnostics).</summary>
    public long? SessionDeadline(string groupId, string memberId) => _timers.SessionDeadline(groupId, memberId);

    /// <summary>The member's revocation deadline, or null when it has nothing to revoke.</summary>
    public long? RevocationDeadline(string groupId, string memberId) => _timers.RevocationDeadline(groupId, memberId);

    /// <summary>
    /// After the records of the log were replayed: every member gets a fresh session timeout, and
    /// members that still have partitions to revoke a fresh rebalance timeout.
    /// </summary>
    public void OnLoaded(long nowMs)
    {
        _timers.Clear();
        foreach (var g in _groups.Values)
            foreach (var m in g.MembersById.Values)
            {
                _timers.SetSession(g.GroupId, m.MemberId, nowMs + Config.SessionTimeoutMs);
                if (m.State == MemberState.UnrevokedPartitions)
                    _timers.SetRevocation(g.GroupId, m.MemberId, nowMs + Math.Max(0, m.RebalanceTimeoutMs), m.MemberEpoch);
            }
    }

    /// <summary>Forgets every group (the partition was unloaded).</summary>
    public void Clear()
    {
        _groups.Clear();
        _timers.Clear();
    }

    // ------------------------------------------------------------------ heartbeat

    /// <summary>ConsumerGroupHeartbeat v0–1: join (epoch 0), heartbeat (the member's epoch), leave
    /// (-1) or static leave (-2). See the README for the error rules.</summary>
    public ConsumerGroupResult<ConsumerGroupHeartbeatResponse> Heartbeat(
        ConsumerGroupHeartbeatRequest request, short apiVersion, ConsumerGroupClient client, ITopicMetadataSource topics, long nowMs)
    {
        var records = new List<ConsumerGroupRecord>();
        try
        {
            var response = HeartbeatCore(request, apiVersion, client, topics, nowMs, records);
            return new(records, response);
        }
        catch (GroupException e)
        {
            if (records.Count > 0) throw new InvalidOperationException("an error was raised after records were written", e);
            return new(records, new ConsumerGroupHeartbeatResponse { ErrorCode = (short)e.Code, ErrorMessage = e.Message });
        }
    }

    private ConsumerGroupHeartbeatResponse HeartbeatCore(
        ConsumerGroupHeartbeatRequest req, short apiVersion, ConsumerGroupClient client, ITopicMetadataSource topics, long nowMs,
        List<ConsumerGroupRecord> records)
    {
        Validate(req, apiVersion);
        if (req.MemberEpoch is LeaveEpoch or StaticLeaveEpoch) return Leave(req, nowMs, records);

        string groupId = req.GroupId;
        _groups.TryGetValue(groupId, out var group);
        if (group is null && req.MemberEpoch != JoinEpoch)
            throw new GroupException(ErrorCode.UnknownMemberId, $"Consumer group {groupId} not found.");

        string memberId = req.MemberId;
        if (memberId.Length == 0) memberId = _newMemberId(); // v0 join only (Validate)

        ConsumerGroupMember? existing = null, replaced = null;
        if (req.InstanceId is { } instanceId)
        {
            var holder = group?.StaticMember(instanceId);
            if (req.MemberEpoch == JoinEpoch)
            {
                if (holder is null) existing = group?.Member(memberId);
                else if (holder.MemberId == memberId) existing = holder;
                else if (holder.MemberEpoch != StaticLeaveEpoch)
                    throw new GroupException(ErrorCode.UnreleasedInstanceId, $"Static member {holder.MemberId} with instance id {instanceId} is not released yet.");
                else replaced = holder;
            }
            else
            {
                if (holder is null) throw new GroupException(ErrorCode.UnknownMemberId, $"Instance id {instanceId} is unknown.");
                if (holder.MemberId != memberId)
                    throw new GroupException(ErrorCode.FencedInstanceId, $"Instance id {instanceId} belongs to member {holder.MemberId}, not {memberId}.");
                existing = holder;
                CheckEpoch(existing, req);
            }
        }
        else
        {
            existing = group?.Member(memberId);
            if (req.MemberEpoch != JoinEpoch)
            {
                if (existing is null) throw new GroupException(ErrorCode.UnknownMemberId, $"Member {memberId} is not a member of group {groupId}.");
                CheckEpoch(existing, req);
            }
        }
        if (existing is null && replaced is null && group is not null && group.MembersById.Count >= Config.MaxSize)
            throw new GroupException(ErrorCode.GroupMaxSizeReached, $"The consumer group has reached its maximum capacity of {Config.MaxSize} members.");

        // ---- from here on, records are written (no more errors) ----
        var baseSpec = existing is not null ? MemberSpec.Of(existing)
            : replaced is not null ? MemberSpec.Of(replaced)
            : new MemberSpec(null, null, "", "", [], null, -1, null);
        var spec = baseSpec with
        {
            InstanceId = req.InstanceId ?? baseSpec.InstanceId,
            RackId = req.RackId ?? baseSpec.RackId,
            ClientId = client.ClientId,
            ClientHost = client.ClientHost,
            SubscribedTopicNames = req.SubscribedTopicNames is { } names ? names.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToArray() : baseSpec.SubscribedTopicNames,
            SubscribedTopicRegex = req.SubscribedTopicRegex ?? baseSpec.SubscribedTopicRegex,
            RebalanceTimeoutMs = req.RebalanceTimeoutMs != -1 ? req.RebalanceTimeoutMs : baseSpec.RebalanceTimeoutMs,
            ServerAssignor = req.ServerAssignor ?? baseSpec.ServerAssignor,
        };

        bool bump = false;
        if (replaced is not null)
        {
            // A static member comes back under a new member id: it takes the place (and the
            // assignment) of the instance that left with epoch -2, without a rebalance.
            var target = group!.TargetOf(replaced.MemberId);
            var assigned = replaced.AssignedPartitions;
            RemoveMemberRecords(groupId, replaced.MemberId, records);
            Emit(records, ConsumerGroupRecord.MemberMetadata(groupId, memberId, MemberMetadataValue(spec)));
            Emit(records, ConsumerGroupRecord.TargetAssignmentMember(groupId, memberId, TargetValue(target)));
            Emit(records, ConsumerGroupRecord.CurrentMemberAssignment(groupId, memberId,
                CurrentAssignmentValue(0, 0, MemberState.Stable, assigned, PartitionAssignment.Empty)));
            bump = !spec.SameSubscription(MemberSpec.Of(replaced));
        }
        else
        {
            if (existing is null || !spec.SameAs(baseSpec))
                Emit(records, ConsumerGroupRecord.MemberMetadata(groupId, memberId, MemberMetadataValue(spec)));
            bump = existing is null || !spec.SameSubscription(baseSpec);
            if (existing is not null && req.MemberEpoch == JoinEpoch && (existing.MemberEpoch != 0 || !existing.AssignedPartitions.IsEmpty || !existing.PartitionsPendingRevocation.IsEmpty))
            {
                // A known member joining again owns nothing (TopicPartitions is empty on a join):
                // its partitions are released and it reconciles from scratch.
                Emit(records, ConsumerGroupRecord.CurrentMemberAssignment(groupId, memberId,
                    CurrentAssignmentValue(0, existing.MemberEpoch, MemberState.Stable, PartitionAssignment.Empty, PartitionAssignment.Empty)));
            }
        }
        group = _groups[groupId];
        var member = group.MembersById[memberId];

        if (RefreshSubscriptionMetadata(group, topics, records)) bump = true;
        if (bump) BumpGroupEpoch(group, records);
        if (group.GroupEpoch > group.TargetAssignmentEpoch) ComputeTargetAssignment(group, topics, records);

        var before = member.AssignedPartitions;
        var owned = req.TopicPartitions is { } tps
            ? PartitionAssignment.From(tps.SelectMany(t => t.Partitions.Select(p => (t.TopicId, p))))
            : null;
        Reconcile(group, member, owned, records);

        _timers.SetSession(groupId, memberId, nowMs + Config.SessionTimeoutMs);
        if (member.State == MemberState.UnrevokedPartitions)
        {
            if (!_timers.HasRevocation(groupId, memberId, member.MemberEpoch))
                _timers.SetRevocation(groupId, memberId, nowMs + Math.Max(0, member.RebalanceTimeoutMs), member.MemberEpoch);
        }
        else _timers.ClearRevocation(groupId, memberId);

        var response = new ConsumerGroupHeartbeatResponse
        {
            MemberId = memberId,
            MemberEpoch = member.MemberEpoch,
            HeartbeatIntervalMs = Config.HeartbeatIntervalMs,
        };
        bool fullRequest = req.MemberEpoch == JoinEpoch
            || (req.RebalanceTimeoutMs != -1 && (req.SubscribedTopicNames is not null || req.SubscribedTopicRegex is not null) && req.TopicPartitions is not null);
        if (fullRequest || !before.Equals(member.AssignedPartitions))
        {
            response.Assignment = new ConsumerGroupHeartbeatResponse.AssignmentData
            {
                TopicPartitions = member.AssignedPartitions.Topics
                    .Select(kv => new ConsumerGroupHeartbeatResponse.TopicPartitions { TopicId = kv.Key, Partitions = [.. kv.Value] }).ToList(),
            };
        }
        return response;
    }

    private void Validate(ConsumerGroupHeartbeatRequest req, short apiVersion)
    {
        static GroupException Invalid(string message) => new(ErrorCode.InvalidRequest, message);
        if (apiVersion is < 0 or > 1) throw new GroupException(ErrorCode.UnsupportedVersion, $"ConsumerGroupHeartbeat v{apiVersion} is not supported.");
        if (string.IsNullOrEmpty(req.GroupId)) throw Invalid("GroupId can't be empty.");
        if (req.InstanceId is { Length: 0 }) throw Invalid("InstanceId can't be empty.");
        if (req.RackId is { Length: 0 }) throw Invalid("RackId can't be empty.");
        if (req.MemberEpoch < StaticLeaveEpoch) throw Invalid("MemberEpoch is invalid.");
        bool memberIdRequired = apiVersion >= 1 || req.MemberEpoch != JoinEpoch;
        if (memberIdRequired && string.IsNullOrEmpty(req.MemberId)) throw Invalid("MemberId can't be empty.");
        if (req.MemberEpoch == JoinEpoch)
        {
            if (req.RebalanceTimeoutMs == -1) throw Invalid("RebalanceTimeoutMs must be provided in first request.");
            if (req.TopicPartitions is null || req.TopicPartitions.Count > 0) throw Invalid("TopicPartitions must be empty when (re-)joining.");
            if (req.SubscribedTopicNames is null && req.SubscribedTopicRegex is null)
                throw Invalid("SubscribedTopicNames or SubscribedTopicRegex must be set in first request.");
        }
        else if (req.MemberEpoch == StaticLeaveEpoch && req.InstanceId is null)
            throw Invalid("InstanceId can't be null.");
        if (req.RebalanceTimeoutMs < -1) throw Invalid("RebalanceTimeoutMs is invalid.");
        if (req.SubscribedTopicNames is { } names && names.Any(n => n is null)) throw Invalid("SubscribedTopicNames contains a null name.");
        if (req.TopicPartitions is { } tps && tps.Any(t => t.Partitions.Any(p => p < 0))) throw Invalid("TopicPartitions contains a negative partition.");
        if (req.ServerAssignor is { } assignor && !Config.Assignors.Any(a => a.Name == assignor))
            throw new GroupException(ErrorCode.UnsupportedAssignor,
                $"ServerAssignor {assignor} is not supported. Supported assignors: {string.Join(", ", Config.Assignors.Select(a => a.Name))}.");
        if (req.SubscribedTopicRegex is { } regex && CompileRegex(regex) is null)
            throw new GroupException(ErrorCode.InvalidRegularExpression, $"SubscribedTopicRegex `{regex}` is not a valid regular expression.");
    }

    /// <summary>Kafka's epoch rule: the member's epoch, or its previous epoch when the member only
    /// owns partitions of its current assignment (the answer carrying the bump was lost).</summary>
    private static void CheckEpoch(ConsumerGroupMember member, ConsumerGroupHeartbeatRequest req)
    {
        int received = req.MemberEpoch;
        if (received > member.MemberEpoch)
            throw new GroupException(ErrorCode.FencedMemberEpoch, "The consumer group member has a greater member epoch than expected.");
        if (received < member.MemberEpoch)
        {
            var owned = req.TopicPartitions is { } tps ? PartitionAssignment.From(tps.SelectMany(t => t.Partitions.Select(p => (t.TopicId, p)))) : null;
            if (received != member.PreviousMemberEpoch || owned is null || !owned.IsSubsetOf(member.AssignedPartitions))
                throw new GroupException(ErrorCode.FencedMemberEpoch, "The consumer group member has a smaller member epoch than expected.");
        }
    }

    private ConsumerGroupHeartbeatResponse Leave(ConsumerGroupHeartbeatRequest req, long nowMs, List<ConsumerGroupRecord> records)
    {
        string groupId = req.GroupId, memberId = req.MemberId;
        if (!_groups.TryGetValue(groupId, out var group))
            throw new GroupException(ErrorCode.UnknownMemberId, $"Consumer group {groupId} not found.");
        ConsumerGroupMember? member;
        if (req.InstanceId is { } instanceId)
        {
            member = group.StaticMember(instanceId) ?? throw new GroupException(ErrorCode.UnknownMemberId, $"Instance id {instanceId} is unknown.");
            if (member.MemberId != memberId)
                throw new GroupException(ErrorCode.FencedInstanceId, $"Instance id {instanceId} belongs to member {member.MemberId}, not {memberId}.");
        }
        else member = group.Member(memberId) ?? throw new GroupException(ErrorCode.UnknownMemberId, $"Member {memberId} is not a member of group {groupId}.");

        if (req.MemberEpoch == StaticLeaveEpoch)
        {
            // The static member goes away for a while and keeps its assignment (no rebalance) until
            // it comes back under the same instance id or its session times out.
            Emit(records, ConsumerGroupRecord.CurrentMemberAssignment(groupId, memberId, CurrentAssignmentValue(
                StaticLeaveEpoch, member.MemberEpoch, member.State, member.AssignedPartitions, member.PartitionsPendingRevocation)));
            _timers.ClearRevocation(groupId, memberId);
            _timers.SetSession(groupId, memberId, nowMs + Config.SessionTimeoutMs);
        }
        else
        {
            RemoveMember(group, memberId, null, records);
        }
        return new ConsumerGroupHeartbeatResponse { MemberId = memberId, MemberEpoch = req.MemberEpoch };
    }

    // ------------------------------------------------------------------ timers

    /// <summary>
    /// Removes the members whose session expired (no heartbeat for the session timeout) or that did
    /// not revoke partitions within their rebalance timeout; each removal bumps the group epoch.
    /// </summary>
    public ConsumerGroupResult<IReadOnlyList<(string GroupId, string MemberId)>> Expire(ITopicMetadataSource topics, long nowMs)
    {
        var records = new List<ConsumerGroupRecord>();
        var expired = new List<(string, string)>();
        foreach (var (groupId, memberId, _) in _timers.Due(nowMs))
        {
            if (!_groups.TryGetValue(groupId, out var group) || !group.MembersById.ContainsKey(memberId)) continue;
            RemoveMember(group, memberId, topics, records);
            expired.Add((groupId, memberId));
        }
        return new(records, expired);
    }

    // ------------------------------------------------------------------ metadata changes

    /// <summary>
    /// Re-reads the subscribed topics of every group (after a metadata update); a group whose
    /// subscribed topics changed (created, deleted, more partitions) gets a new group epoch and a new
    /// target assignment. Members converge on their next heartbeats. (A heartbeat does the same
    /// check for its own group, so calling this is optional.)
    /// </summary>
    public ConsumerGroupResult<int> RefreshMetadata(ITopicMetadataSource topics)
    {
        var records = new List<ConsumerGroupRecord>();
        int changed = 0;
        foreach (var group in _groups.Values.OrderBy(g => g.GroupId, StringComparer.Ordinal).ToList())
        {
            if (group.MembersById.Count == 0) continue;
            if (!RefreshSubscriptionMetadata(group, topics, records)) continue;
            BumpGroupEpoch(group, records);
            ComputeTargetAssignment(group, topics, records);
            changed++;
        }
        return new(records, changed);
    }

    // ------------------------------------------------------------------ deletion

    /// <summary>DeleteGroups for a consumer group: only an empty group can go (NON_EMPTY_GROUP);
    /// an unknown one gives GROUP_ID_NOT_FOUND. Writes the group's tombstones.</summary>
    public ConsumerGroupResult<ErrorCode> DeleteGroup(string groupId)
    {
        var records = new List<ConsumerGroupRecord>();
        if (!_groups.TryGetValue(groupId, out var group)) return new(records, ErrorCode.GroupIdNotFound);
        if (group.MembersById.Count > 0) return new(records, ErrorCode.NonEmptyGroup);
        foreach (var memberId in group.Targets.Keys.ToList())
            Emit(records, ConsumerGroupRecord.TargetAssignmentMember(groupId, memberId, null));
        Emit(records, ConsumerGroupRecord.TargetAssignmentMetadata(groupId, null));
        Emit(records, ConsumerGroupRecord.PartitionMetadata(groupId, null));
        Emit(records, ConsumerGroupRecord.GroupMetadata(groupId, null));
        return new(records, ErrorCode.None);
    }

    // ------------------------------------------------------------------ offsets

    /// <summary>
    /// The KIP-848 check of OffsetCommit v9+ against a consumer group: an empty member id with
    /// epoch -1 is an admin commit (allowed); otherwise the member must exist (UNKNOWN_MEMBER_ID)
    /// and send its current epoch (STALE_MEMBER_EPOCH). GROUP_ID_NOT_FOUND for an unknown group.
    /// </summary>
    public ErrorCode ValidateOffsetCommit(string groupId, string? memberId, int memberEpoch)
    {
        if (!_groups.TryGetValue(groupId, out var group)) return ErrorCode.GroupIdNotFound;
        if (string.IsNullOrEmpty(memberId) && memberEpoch < 0) return ErrorCode.None;
        var member = memberId is null ? null : group.Member(memberId);
        if (member is null) return ErrorCode.UnknownMemberId;
        return memberEpoch == member.MemberEpoch ? ErrorCode.None : ErrorCode.StaleMemberEpoch;
    }

    /// <summary>OffsetFetch v9+ with a member id: the member must exist and send its current epoch.</summary>
    public ErrorCode ValidateOffsetFetch(string groupId, string? memberId, int memberEpoch)
    {
        if (memberId is null) return ErrorCode.None;
        if (!_groups.TryGetValue(groupId, out var group)) return ErrorCode.GroupIdNotFound;
        var member = group.Member(memberId);
        if (member is null) return ErrorCode.UnknownMemberId;
        return memberEpoch == member.MemberEpoch ? ErrorCode.None : ErrorCode.StaleMemberEpoch;
    }

    // ------------------------------------------------------------------ describe

    /// <summary>ConsumerGroupDescribe v0–1 (without authorization: the handler fills
    /// <c>AuthorizedOperations</c> and filters unauthorized groups).</summary>
    public ConsumerGroupDescribeResponse Describe(ConsumerGroupDescribeRequest request, short apiVersion, ITopicMetadataSource topics)
    {
        var response = new ConsumerGroupDescribeResponse();
        foreach (var groupId in request.GroupIds)
            response.Groups.Add(DescribeGroup(groupId, apiVersion, topics));
        return response;
    }

    public ConsumerGroupDescribeResponse.DescribedGroup DescribeGroup(string groupId, short apiVersion, ITopicMetadataSource topics)
    {
        if (string.IsNullOrEmpty(groupId))
            return new() { GroupId = groupId ?? "", ErrorCode = (short)ErrorCode.InvalidGroupId, ErrorMessage = "GroupId can't be empty." };
        if (!_groups.TryGetValue(groupId, out var group))
            return new() { GroupId = groupId, ErrorCode = (short)ErrorCode.GroupIdNotFound, ErrorMessage = $"Group {groupId} not found.", GroupState = nameof(ConsumerGroupState.Dead) };
        var described = new ConsumerGroupDescribeResponse.DescribedGroup
        {
            GroupId = groupId,
            GroupState = group.State.ToString(),
            GroupEpoch = group.GroupEpoch,
            AssignmentEpoch = group.TargetAssignmentEpoch,
            AssignorName = PreferredAssignor(group).Name,
        };
        foreach (var m in group.MembersById.Values)
        {
            described.Members.Add(new ConsumerGroupDescribeResponse.Member
            {
                MemberId = m.MemberId,
                InstanceId = m.InstanceId,
                RackId = m.RackId,
                MemberEpoch = m.MemberEpoch,
                ClientId = m.ClientId,
                ClientHost = m.ClientHost,
                SubscribedTopicNames = [.. m.SubscribedTopicNames],
                SubscribedTopicRegex = m.SubscribedTopicRegex,
                Assignment = DescribeAssignment(m.AssignedPartitions, topics),
                TargetAssignment = DescribeAssignment(group.TargetOf(m.MemberId), topics),
                MemberType = (sbyte)(apiVersion >= 1 ? 1 : -1), // 1 = consumer protocol
            });
        }
        return described;
    }

    private static ConsumerGroupDescribeResponse.Assignment DescribeAssignment(PartitionAssignment a, ITopicMetadataSource topics)
    {
        var result = new ConsumerGroupDescribeResponse.Assignment();
        foreach (var (topicId, partitions) in a.Topics)
        {
            // A deleted topic is left out (its name is gone), as Kafka does.
            if (topics.ById(topicId) is not { } t) continue;
            result.TopicPartitions.Add(new ConsumerGroupDescribeResponse.TopicPartitions { TopicId = topicId, TopicName = t.Name, Partitions = [.. partitions] });
        }
        return result;
    }

    // ------------------------------------------------------------------ internals

    private void Emit(List<ConsumerGroupRecord> records, ConsumerGroupRecord record)
    {
        Replay(record);
        records.Add(record);
    }

    private void RemoveMemberRecords(string groupId, string memberId, List<ConsumerGroupRecord> records)
    {
        Emit(records, ConsumerGroupRecord.CurrentMemberAssignment(groupId, memberId, null));
        Emit(records, ConsumerGroupRecord.TargetAssignmentMember(groupId, memberId, null));
        Emit(records, ConsumerGroupRecord.MemberMetadata(groupId, memberId, null));
    }

    /// <summary>Removes a member (leave, expiry, fencing) and bumps the group epoch; the new target is
    /// computed at the next heartbeat (the group is Assigning until then).</summary>
    private void RemoveMember(ConsumerGroup group, string memberId, ITopicMetadataSource? topics, List<ConsumerGroupRecord> records)
    {
        RemoveMemberRecords(group.GroupId, memberId, records);
        if (topics is not null) RefreshSubscriptionMetadata(group, topics, records);
        else RefreshSubscriptionMetadata(group, KnownTopics(group), records);
        BumpGroupEpoch(group, records);
    }

    /// <summary>Without a fresh metadata snapshot, the group's own subscription metadata.</summary>
    private static ITopicMetadataSource KnownTopics(ConsumerGroup group) => new StaticTopicMetadata(group.SubscriptionMetadata.Values);

    private void BumpGroupEpoch(ConsumerGroup group, List<ConsumerGroupRecord> records) =>
        Emit(records, ConsumerGroupRecord.GroupMetadata(group.GroupId, new ConsumerGroupMetadataValue
        {
            Epoch = group.GroupEpoch + 1,
            MetadataHash = HashOf(group.SubscriptionMetadata.Values),
        }));

    /// <summary>Writes the partition metadata record when the subscribed topics (names, ids,
    /// partition counts) differ from the stored ones. True when it did.</summary>
    private bool RefreshSubscriptionMetadata(ConsumerGroup group, ITopicMetadataSource topics, List<ConsumerGroupRecord> records)
    {
        var fresh = new SortedDictionary<string, ConsumerGroupTopic>(StringComparer.Ordinal);
        foreach (var name in group.SubscribedNames.Keys)
            if (topics.ByName(name) is { } t) fresh[name] = t;
        if (group.SubscribedRegexes.Count > 0)
        {
            var regexes = group.SubscribedRegexes.Keys.Select(CompileRegex).Where(r => r is not null).ToList();
            foreach (var t in topics.All)
                if (!fresh.ContainsKey(t.Name) && !IsInternalTopic(t.Name) && regexes.Any(r => Matches(r!, t.Name))) fresh[t.Name] = t;
        }
        if (fresh.Count == group.SubscriptionMetadata.Count && fresh.All(kv => group.SubscriptionMetadata.TryGetValue(kv.Key, out var o) && o == kv.Value))
            return false;
        Emit(records, ConsumerGroupRecord.PartitionMetadata(group.GroupId, PartitionMetadataValue(fresh.Values)));
        return true;
    }

    private void ComputeTargetAssignment(ConsumerGroup group, ITopicMetadataSource topics, List<ConsumerGroupRecord> records)
    {
        var assignor = PreferredAssignor(group);
        var subscribed = group.SubscriptionMetadata.Values.ToList();
        var partitionCounts = subscribed.ToDictionary(t => t.Id, t => t.NumPartitions);
        var specs = new List<AssignmentMember>();
        foreach (var m in group.MembersById.Values)
        {
            var regex = m.SubscribedTopicRegex is { } r ? CompileRegex(r) : null;
            var ids = subscribed
                .Where(t => m.SubscribedTopicNames.Contains(t.Name, StringComparer.Ordinal) || (regex is not null && !IsInternalTopic(t.Name) && Matches(regex, t.Name)))
                .Select(t => t.Id)
                .ToHashSet();
            specs.Add(new AssignmentMember(m.MemberId, m.InstanceId, m.RackId, ids, group.TargetOf(m.MemberId)));
        }
        var result = assignor.Assign(specs, partitionCounts);
        foreach (var m in group.MembersById.Values.ToList())
        {
            var target = result.GetValueOrDefault(m.MemberId) ?? PartitionAssignment.Empty;
            if (!group.Targets.TryGetValue(m.MemberId, out var old) || !old.Equals(target))
                Emit(records, ConsumerGroupRecord.TargetAssignmentMember(group.GroupId, m.MemberId, TargetValue(target)));
        }
        Emit(records, ConsumerGroupRecord.TargetAssignmentMetadata(group.GroupId,
            new ConsumerGroupTargetAssignmentMetadataValue { AssignmentEpoch = group.GroupEpoch }));
    }

    /// <summary>The assignor most members ask for (ties: the configured order), else the first configured.</summary>
    private IConsumerGroupAssignor PreferredAssignor(ConsumerGroup group)
    {
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var m in group.MembersById.Values)
            if (m.ServerAssignor is { } name) counts[name] = counts.GetValueOrDefault(name) + 1;
        IConsumerGroupAssignor best = Config.Assignors[0];
        int bestCount = 0;
        foreach (var a in Config.Assignors)
            if (counts.GetValueOrDefault(a.Name) > bestCount) { best = a; bestCount = counts[a.Name]; }
        return best;
    }

    /// <summary>
    /// Reconciliation (Kafka's current assignment builder). A member moves to the target epoch only
    /// when it owns nothing that the target gives to others: partitions to give up are first
    /// withheld from its assignment (pending revocation, epoch unchanged) until the member reports
    /// (TopicPartitions) that it no longer owns them; a partition of the target still owned by
    /// another member is withheld (UnreleasedPartitions) until that member releases it.
    /// </summary>
    private void Reconcile(ConsumerGroup group, ConsumerGroupMember member, PartitionAssignment? owned, List<ConsumerGroupRecord> records)
    {
        int targetEpoch = group.TargetAssignmentEpoch;
        switch (member.State)
        {
            case MemberState.Stable when member.MemberEpoch == targetEpoch:
                return;
            case MemberState.UnrevokedPartitions when OwnsAny(owned, member.PartitionsPendingRevocation):
                return;
        }
        var target = group.TargetOf(member.MemberId);
        var current = member.AssignedPartitions;
        var kept = current.Intersect(target);
        var revoke = current.Except(target);
        var toAssign = target.Except(current);
        var free = PartitionAssignment.From(toAssign.All().Where(tp => group.OwnerOf(tp.TopicId, tp.Partition) is null || group.OwnerOf(tp.TopicId, tp.Partition) == member.MemberId));
        bool unreleased = free.Count < toAssign.Count;

        int epoch, previous;
        MemberState state;
        PartitionAssignment assigned, revoking;
        if (!revoke.IsEmpty && OwnsAny(owned, revoke))
        {
            (epoch, state, assigned, revoking) = (member.MemberEpoch, MemberState.UnrevokedPartitions, kept, revoke);
        }
        else
        {
            (epoch, state, assigned, revoking) = (targetEpoch, unreleased ? MemberState.UnreleasedPartitions : MemberState.Stable, kept.Union(free), PartitionAssignment.Empty);
        }
        previous = epoch != member.MemberEpoch ? member.MemberEpoch : member.PreviousMemberEpoch;
        if (epoch == member.MemberEpoch && state == member.State && assigned.Equals(member.AssignedPartitions) && revoking.Equals(member.PartitionsPendingRevocation))
            return;
        Emit(records, ConsumerGroupRecord.CurrentMemberAssignment(group.GroupId, member.MemberId,
            CurrentAssignmentValue(epoch, previous, state, assigned, revoking)));
    }

    /// <summary>Null (the member did not report) counts as still owning.</summary>
    private static bool OwnsAny(PartitionAssignment? owned, PartitionAssignment partitions) =>
        !partitions.IsEmpty && (owned is null || owned.Overlaps(partitions));

    private Regex? CompileRegex(string pattern)
    {
        try
        {
            // NonBacktracking matches in time linear in the name, so no pattern can be pathological
            // and no match timeout is needed (one would turn a slow, loaded machine into wrong answers).
            return new Regex("^(?:" + pattern + ")\\z", RegexOptions.NonBacktracking | RegexOptions.CultureInvariant);
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException)
        {
            return null;
        }
    }

    private static bool Matches(Regex regex, string name) => regex.IsMatch(name);

    /// <summary>Internal topics never match a regular expression (as in Kafka).</summary>
    private static bool IsInternalTopic(string name) => name is "__consumer_offsets" or "__transaction_state" or "__share_group_state";

    /// <summary>FNV-1a 64 over the sorted (name, id, partition count) triples: stable across processes.</summary>
    internal static long HashOf(IEnumerable<ConsumerGroupTopic> topics)
    {
        ulong h = 14695981039346656037UL;
        void Mix(ulong v)
        {
            for (int i = 0; i < 8; i++) { h ^= (byte)(v >> (8 * i)); h *= 1099511628211UL; }
        }
        foreach (var t in topics.OrderBy(t => t.Name, StringComparer.Ordinal))
        {
            foreach (char c in t.Name) Mix(c);
            Mix((ulong)t.Id.MostSignificantBits);
            Mix((ulong)t.Id.LeastSignificantBits);
            Mix((ulong)t.NumPartitions);
        }
        return (long)h;
    }

    /// <summary>A canonical dump of all persisted state (tests: replayed state equals the original).</summary>
    public string Dump() => string.Concat(_groups.Values.OrderBy(g => g.GroupId, StringComparer.Ordinal).Select(g => g.Dump()));

    private sealed class GroupException(ErrorCode code, string message) : Exception(message)
    {
        public ErrorCode Code { get; } = code;
    }
}
