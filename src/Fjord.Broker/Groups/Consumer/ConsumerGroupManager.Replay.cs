using Fjord.Common;
using Fjord.Protocol.Messages;

namespace Fjord.Broker.Groups.Consumer;

public sealed partial class ConsumerGroupManager
{
    /// <summary>
    /// Applies one record to the state. The operations apply their own records through this method
    /// as they produce them, so the state is always exactly what replaying the log gives.
    /// A record for an unknown group or member creates it (with defaults), as in Kafka.
    /// </summary>
    /// <exception cref="InvalidOperationException">the record would give a partition to two members
    /// (a corrupt log or a bug: the invariant the protocol exists for).</exception>
    public void Replay(ConsumerGroupRecord record)
    {
        string groupId = record.GroupId;
        switch (record.Key)
        {
            case ConsumerGroupMetadataKey:
                if (record.Value is ConsumerGroupMetadataValue gm)
                {
                    var g = GetOrCreate(groupId);
                    g.GroupEpoch = gm.Epoch;
                    g.MetadataHash = gm.MetadataHash;
                }
                else
                {
                    _groups.Remove(groupId);
                    _timers.RemoveGroup(groupId);
                }
                break;

            case ConsumerGroupPartitionMetadataKey:
            {
                var g = GetOrCreate(groupId);
                var sub = new SortedDictionary<string, ConsumerGroupTopic>(StringComparer.Ordinal);
                if (record.Value is ConsumerGroupPartitionMetadataValue pm)
                    foreach (var t in pm.Topics) sub[t.TopicName] = new ConsumerGroupTopic(t.TopicId, t.TopicName, t.NumPartitions);
                g.SubscriptionMetadata = sub;
                break;
            }

            case ConsumerGroupMemberMetadataKey mk:
            {
                var g = GetOrCreate(groupId);
                if (record.Value is ConsumerGroupMemberMetadataValue mv)
                {
                    if (!g.MembersById.TryGetValue(mk.MemberId, out var m)) g.MembersById[mk.MemberId] = m = new ConsumerGroupMember(mk.MemberId);
                    else g.AddSubscriptions(m, -1);
                    if (m.InstanceId is { } oldInstance && g.StaticMembers.GetValueOrDefault(oldInstance) == m.MemberId) g.StaticMembers.Remove(oldInstance);
                    m.InstanceId = mv.InstanceId;
                    m.RackId = mv.RackId;
                    m.ClientId = mv.ClientId;
                    m.ClientHost = mv.ClientHost;
                    m.SubscribedTopicNames = mv.SubscribedTopicNames.ToArray();
                    m.SubscribedTopicRegex = mv.SubscribedTopicRegex;
                    m.RebalanceTimeoutMs = mv.RebalanceTimeoutMs;
                    m.ServerAssignor = mv.ServerAssignor;
                    g.AddSubscriptions(m, +1);
                    if (m.InstanceId is { } instance) g.StaticMembers[instance] = m.MemberId;
                }
                else if (g.MembersById.Remove(mk.MemberId, out var removed))
                {
                    g.AddSubscriptions(removed, -1);
                    SetOwnership(g, removed, PartitionAssignment.Empty, PartitionAssignment.Empty, 0);
                    if (removed.InstanceId is { } instance && g.StaticMembers.GetValueOrDefault(instance) == removed.MemberId) g.StaticMembers.Remove(instance);
                    _timers.RemoveMember(groupId, mk.MemberId);
                }
                break;
            }

            case ConsumerGroupTargetAssignmentMetadataKey:
            {
                var g = GetOrCreate(groupId);
                g.TargetAssignmentEpoch = record.Value is ConsumerGroupTargetAssignmentMetadataValue tv ? tv.AssignmentEpoch : 0;
                break;
            }

            case ConsumerGroupTargetAssignmentMemberKey tk:
            {
                var g = GetOrCreate(groupId);
                if (record.Value is ConsumerGroupTargetAssignmentMemberValue tm)
                    g.Targets[tk.MemberId] = PartitionAssignment.From(tm.TopicPartitions.Select(t => new KeyValuePair<Uuid, IEnumerable<int>>(t.TopicId, t.Partitions)));
                else
                    g.Targets.Remove(tk.MemberId);
                break;
            }

            case ConsumerGroupCurrentMemberAssignmentKey ck:
            {
                var g = GetOrCreate(groupId);
                if (!g.MembersById.TryGetValue(ck.MemberId, out var m))
                {
                    if (record.Value is null) break;
                    g.MembersById[ck.MemberId] = m = new ConsumerGroupMember(ck.MemberId);
                }
                if (record.Value is ConsumerGroupCurrentMemberAssignmentValue cv)
                {
                    var assigned = FromRecord(cv.AssignedPartitions);
                    var revoking = FromRecord(cv.PartitionsPendingRevocation);
                    SetOwnership(g, m, assigned, revoking, cv.MemberEpoch);
                    m.MemberEpoch = cv.MemberEpoch;
                    m.PreviousMemberEpoch = cv.PreviousMemberEpoch;
                    m.State = Enum.IsDefined((MemberState)cv.State) ? (MemberState)cv.State : MemberState.Stable;
                    m.AssignedPartitions = assigned;
                    m.PartitionsPendingRevocation = revoking;
                }
                else
                {
                    SetOwnership(g, m, PartitionAssignment.Empty, PartitionAssignment.Empty, 0);
                    m.MemberEpoch = 0;
                    m.PreviousMemberEpoch = 0;
                    m.State = MemberState.Stable;
                    m.AssignedPartitions = PartitionAssignment.Empty;
                    m.PartitionsPendingRevocation = PartitionAssignment.Empty;
                }
                break;
            }

            default:
                throw new ArgumentException($"not a consumer group record: {record.Key.GetType().Name}", nameof(record));
        }
    }

    private ConsumerGroup GetOrCreate(string groupId)
    {
        if (!_groups.TryGetValue(groupId, out var g)) _groups[groupId] = g = new ConsumerGroup(groupId);
        return g;
    }

    /// <summary>Moves the partition ownership index from the member's old sets to the new ones.</summary>
    private static void SetOwnership(ConsumerGroup g, ConsumerGroupMember m, PartitionAssignment assigned, PartitionAssignment revoking, int epoch)
    {
        foreach (var tp in m.AssignedPartitions.All().Concat(m.PartitionsPendingRevocation.All()))
            if (g.Owners.TryGetValue(tp, out var o) && o.MemberId == m.MemberId) g.Owners.Remove(tp);
        foreach (var tp in assigned.All().Concat(revoking.All()))
        {
            if (g.Owners.TryGetValue(tp, out var o) && o.MemberId != m.MemberId)
                throw new InvalidOperationException($"group {g.GroupId}: partition {tp.Item1}-{tp.Item2} given to {m.MemberId} is still owned by {o.MemberId}");
            g.Owners[tp] = (m.MemberId, epoch);
        }
    }

    private static PartitionAssignment FromRecord(List<ConsumerGroupCurrentMemberAssignmentValue.TopicPartitions> list) =>
        PartitionAssignment.From(list.Select(t => new KeyValuePair<Uuid, IEnumerable<int>>(t.TopicId, t.Partitions)));

    // ---- record builders ----

    private static ConsumerGroupMemberMetadataValue MemberMetadataValue(MemberSpec m) => new()
    {
        InstanceId = m.InstanceId,
        RackId = m.RackId,
        ClientId = m.ClientId,
        ClientHost = m.ClientHost,
        SubscribedTopicNames = [.. m.SubscribedTopicNames],
        SubscribedTopicRegex = m.SubscribedTopicRegex,
        RebalanceTimeoutMs = m.RebalanceTimeoutMs,
        ServerAssignor = m.ServerAssignor,
    };

    private static ConsumerGroupCurrentMemberAssignmentValue CurrentAssignmentValue(
        int epoch, int previousEpoch, MemberState state, PartitionAssignment assigned, PartitionAssignment revoking) => new()
    {
        MemberEpoch = epoch,
        PreviousMemberEpoch = previousEpoch,
        State = (sbyte)state,
        AssignedPartitions = ToRecord(assigned),
        PartitionsPendingRevocation = ToRecord(revoking),
    };

    private static List<ConsumerGroupCurrentMemberAssignmentValue.TopicPartitions> ToRecord(PartitionAssignment a) =>
        a.Topics.Select(kv => new ConsumerGroupCurrentMemberAssignmentValue.TopicPartitions { TopicId = kv.Key, Partitions = [.. kv.Value] }).ToList();

    private static ConsumerGroupTargetAssignmentMemberValue TargetValue(PartitionAssignment a) => new()
    {
        TopicPartitions = a.Topics.Select(kv => new ConsumerGroupTargetAssignmentMemberValue.TopicPartition { TopicId = kv.Key, Partitions = [.. kv.Value] }).ToList(),
    };

    private static ConsumerGroupPartitionMetadataValue PartitionMetadataValue(IEnumerable<ConsumerGroupTopic> topics) => new()
    {
        Topics = topics.Select(t => new ConsumerGroupPartitionMetadataValue.TopicMetadata { TopicId = t.Id, TopicName = t.Name, NumPartitions = t.NumPartitions }).ToList(),
    };

    /// <summary>The member metadata fields (what a member metadata record holds).</summary>
    private sealed record MemberSpec(
        string? InstanceId, string? RackId, string ClientId, string ClientHost,
        IReadOnlyList<string> SubscribedTopicNames, string? SubscribedTopicRegex, int RebalanceTimeoutMs, string? ServerAssignor)
    {
        public static MemberSpec Of(ConsumerGroupMember m) => new(m.InstanceId, m.RackId, m.ClientId, m.ClientHost,
            m.SubscribedTopicNames, m.SubscribedTopicRegex, m.RebalanceTimeoutMs, m.ServerAssignor);

        public bool SameAs(MemberSpec o) =>
            InstanceId == o.InstanceId && RackId == o.RackId && ClientId == o.ClientId && ClientHost == o.ClientHost
            && SubscribedTopicNames.SequenceEqual(o.SubscribedTopicNames, StringComparer.Ordinal) && SubscribedTopicRegex == o.SubscribedTopicRegex
            && RebalanceTimeoutMs == o.RebalanceTimeoutMs && ServerAssignor == o.ServerAssignor;

        public bool SameSubscription(MemberSpec o) =>
            SubscribedTopicNames.SequenceEqual(o.SubscribedTopicNames, StringComparer.Ordinal) && SubscribedTopicRegex == o.SubscribedTopicRegex;
    }
}
