using System.Text;
using Fjord.Common;

namespace Fjord.Broker.Groups.Consumer;

/// <summary>A member's reconciliation state (Kafka's <c>MemberState</c> byte values).</summary>
public enum MemberState : sbyte
{
    /// <summary>The member has its full current assignment at the target epoch (or waits for the next target).</summary>
    Stable = 1,

    /// <summary>The member must revoke <see cref="ConsumerGroupMember.PartitionsPendingRevocation"/> first;
    /// its epoch stays where it was until it acknowledges.</summary>
    UnrevokedPartitions = 2,

    /// <summary>The member is at the target epoch but some target partitions are still owned by others.</summary>
    UnreleasedPartitions = 3,
}

/// <summary>The group state reported by ConsumerGroupDescribe and ListGroups.</summary>
public enum ConsumerGroupState
{
    Empty,
    Assigning,
    Reconciling,
    Stable,
    Dead,
}

/// <summary>
/// A member of a consumer group. Every field is persisted (member metadata and current assignment
/// records) except the timers, which the manager keeps apart. Only <see cref="ConsumerGroupManager.Replay"/>
/// changes it.
/// </summary>
public sealed class ConsumerGroupMember
{
    internal ConsumerGroupMember(string memberId) => MemberId = memberId;

    public string MemberId { get; }
    public string? InstanceId { get; internal set; }
    public string? RackId { get; internal set; }
    public string ClientId { get; internal set; } = "";
    public string ClientHost { get; internal set; } = "";
    public IReadOnlyList<string> SubscribedTopicNames { get; internal set; } = [];
    public string? SubscribedTopicRegex { get; internal set; }
    public int RebalanceTimeoutMs { get; internal set; } = -1;
    public string? ServerAssignor { get; internal set; }

    /// <summary>The epoch the member must send in its next heartbeat (-2: static member away).</summary>
    public int MemberEpoch { get; internal set; }

    /// <summary>The epoch before the last bump: a member whose response was lost may still use it.</summary>
    public int PreviousMemberEpoch { get; internal set; }

    public MemberState State { get; internal set; } = MemberState.Stable;

    /// <summary>Partitions the member owns and may consume.</summary>
    public PartitionAssignment AssignedPartitions { get; internal set; } = PartitionAssignment.Empty;

    /// <summary>Partitions the member still owns but must give up (not in its answer's assignment).</summary>
    public PartitionAssignment PartitionsPendingRevocation { get; internal set; } = PartitionAssignment.Empty;

    /// <summary>True when the member has the target assignment of <paramref name="targetEpoch"/>.</summary>
    public bool IsReconciledTo(int targetEpoch) => State == MemberState.Stable && MemberEpoch == targetEpoch;
}

/// <summary>
/// The state of one consumer group: what the records of <c>__consumer_offsets</c> say (epochs,
/// members, subscription metadata, target assignment) plus indexes derived from them.
/// <para>Invariants (checked when records are replayed):
/// a partition is owned (assigned or pending revocation) by at most one member at a time;
/// <see cref="TargetAssignmentEpoch"/> ≤ <see cref="GroupEpoch"/>; a member's epoch is never above
/// the target assignment epoch.</para>
/// </summary>
public sealed class ConsumerGroup
{
    internal ConsumerGroup(string groupId) => GroupId = groupId;

    public string GroupId { get; }

    /// <summary>Bumped on every membership, subscription or subscribed-topic metadata change.</summary>
    public int GroupEpoch { get; internal set; }

    /// <summary>Hash of <see cref="SubscriptionMetadata"/> (written with the group epoch).</summary>
    public long MetadataHash { get; internal set; }

    /// <summary>The group epoch the current target assignment was computed for.</summary>
    public int TargetAssignmentEpoch { get; internal set; }

    internal readonly SortedDictionary<string, ConsumerGroupMember> MembersById = new(StringComparer.Ordinal);
    internal readonly Dictionary<string, string> StaticMembers = new(StringComparer.Ordinal);
    internal readonly SortedDictionary<string, PartitionAssignment> Targets = new(StringComparer.Ordinal);
    internal readonly Dictionary<(Uuid, int), (string MemberId, int Epoch)> Owners = [];
    internal readonly Dictionary<string, int> SubscribedNames = new(StringComparer.Ordinal);
    internal readonly Dictionary<string, int> SubscribedRegexes = new(StringComparer.Ordinal);

    /// <summary>The subscribed topics that exist, by name (the partition metadata record).</summary>
    public SortedDictionary<string, ConsumerGroupTopic> SubscriptionMetadata { get; internal set; } = new(StringComparer.Ordinal);

    public IReadOnlyDictionary<string, ConsumerGroupMember> Members => MembersById;

    /// <summary>Target assignment per member id.</summary>
    public IReadOnlyDictionary<string, PartitionAssignment> TargetAssignment => Targets;

    public ConsumerGroupMember? Member(string memberId) => MembersById.GetValueOrDefault(memberId);

    public ConsumerGroupMember? StaticMember(string instanceId) =>
        StaticMembers.TryGetValue(instanceId, out var id) ? MembersById.GetValueOrDefault(id) : null;

    public PartitionAssignment TargetOf(string memberId) => Targets.GetValueOrDefault(memberId) ?? PartitionAssignment.Empty;

    /// <summary>The member owning a partition (assigned or pending revocation), or null when free.</summary>
    public string? OwnerOf(Uuid topicId, int partition) => Owners.TryGetValue((topicId, partition), out var o) ? o.MemberId : null;

    /// <summary>Kafka's state rules: Empty without members; Assigning while the target lags the
    /// group epoch; Reconciling while a member is not at the target; else Stable.</summary>
    public ConsumerGroupState State
    {
        get
        {
            if (MembersById.Count == 0) return ConsumerGroupState.Empty;
            if (GroupEpoch > TargetAssignmentEpoch) return ConsumerGroupState.Assigning;
            foreach (var m in MembersById.Values)
                if (!m.IsReconciledTo(TargetAssignmentEpoch)) return ConsumerGroupState.Reconciling;
            return ConsumerGroupState.Stable;
        }
    }

    internal void AddSubscriptions(ConsumerGroupMember m, int delta)
    {
        foreach (var n in m.SubscribedTopicNames.Distinct(StringComparer.Ordinal)) Count(SubscribedNames, n, delta);
        if (m.SubscribedTopicRegex is { } r) Count(SubscribedRegexes, r, delta);

        static void Count(Dictionary<string, int> d, string key, int delta)
        {
            int v = d.GetValueOrDefault(key) + delta;
            if (v <= 0) d.Remove(key); else d[key] = v;
        }
    }

    /// <summary>A canonical text of every persisted field (tests compare replayed states with it).</summary>
    public string Dump()
    {
        var sb = new StringBuilder();
        sb.Append($"group {GroupId} epoch={GroupEpoch} hash={MetadataHash} target={TargetAssignmentEpoch}\n");
        foreach (var t in SubscriptionMetadata.Values) sb.Append($"  topic {t.Name} {t.Id} {t.NumPartitions}\n");
        foreach (var m in MembersById.Values)
        {
            sb.Append($"  member {m.MemberId} inst={m.InstanceId} rack={m.RackId} client={m.ClientId}/{m.ClientHost} ")
              .Append($"names=[{string.Join(',', m.SubscribedTopicNames)}] regex={m.SubscribedTopicRegex} rto={m.RebalanceTimeoutMs} ")
              .Append($"assignor={m.ServerAssignor} epoch={m.MemberEpoch} prev={m.PreviousMemberEpoch} state={m.State} ")
              .Append($"assigned={m.AssignedPartitions} revoking={m.PartitionsPendingRevocation}\n");
        }
        foreach (var (id, t) in Targets) sb.Append($"  target {id} {t}\n");
        foreach (var ((t, p), o) in Owners.OrderBy(kv => kv.Key, TopicPartitionComparer.Instance))
            sb.Append($"  owner {t}-{p} {o.MemberId}@{o.Epoch}\n");
        foreach (var (i, m) in StaticMembers.OrderBy(kv => kv.Key, StringComparer.Ordinal)) sb.Append($"  static {i} {m}\n");
        return sb.ToString();
    }
}
