using Fjord.Common;

namespace Fjord.Broker.Groups.Consumer;

/// <summary>A member as an assignor sees it.</summary>
/// <param name="MemberId">the member id</param>
/// <param name="InstanceId">group.instance.id of a static member (a stable sort key), or null</param>
/// <param name="RackId">the member's rack, or null (not used by Fjord's assignors)</param>
/// <param name="SubscribedTopicIds">the existing topics the member subscribes to (names and regex resolved)</param>
/// <param name="CurrentTarget">the member's previous target assignment (for stickiness)</param>
public sealed record AssignmentMember(
    string MemberId,
    string? InstanceId,
    string? RackId,
    IReadOnlySet<Uuid> SubscribedTopicIds,
    PartitionAssignment CurrentTarget);

/// <summary>
/// A server-side assignor (KIP-848 <c>ServerAssignor</c>). Deterministic: the same input gives the
/// same output. The result has one entry per member (possibly empty); every partition of
/// <c>topics</c> subscribed by at least one member is given to exactly one member subscribed to
/// its topic; no partition is given twice.
/// </summary>
public interface IConsumerGroupAssignor
{
    string Name { get; }

    /// <param name="members">the group's members</param>
    /// <param name="topics">partition counts of the subscribed topics that exist, by topic id</param>
    IReadOnlyDictionary<string, PartitionAssignment> Assign(IReadOnlyList<AssignmentMember> members, IReadOnlyDictionary<Uuid, int> topics);
}

/// <summary>
/// The <c>uniform</c> assignor: spreads all subscribed partitions as evenly as possible over the
/// members, sticky (a member keeps the partitions of its previous target as long as that keeps the
/// balance). With identical subscriptions the partition counts of any two members differ by at most
/// one. With different subscriptions partitions are placed greedily on the least-loaded eligible
/// member, then moved from a member to another eligible one while their counts differ by more than
/// one (a local optimum; Kafka's general uniform builder searches further).
/// </summary>
public sealed class UniformAssignor : IConsumerGroupAssignor
{
    public string Name => "uniform";

    public IReadOnlyDictionary<string, PartitionAssignment> Assign(IReadOnlyList<AssignmentMember> members, IReadOnlyDictionary<Uuid, int> topics)
    {
        var ordered = members.OrderBy(m => m.MemberId, StringComparer.Ordinal).ToList();
        var sets = ordered.ToDictionary(m => m.MemberId, _ => new SortedSet<(Uuid, int)>(TopicPartitionComparer.Instance));
        var owned = new HashSet<(Uuid, int)>();

        bool Valid(AssignmentMember m, Uuid t, int p) => m.SubscribedTopicIds.Contains(t) && topics.TryGetValue(t, out var n) && p >= 0 && p < n;

        // 1. Stickiness: keep what is still valid.
        foreach (var m in ordered)
            foreach (var (t, p) in m.CurrentTarget.All())
                if (Valid(m, t, p) && owned.Add((t, p))) sets[m.MemberId].Add((t, p));

        bool homogeneous = ordered.Count > 0 && ordered.All(m => m.SubscribedTopicIds.SetEquals(ordered[0].SubscribedTopicIds));
        if (homogeneous) AssignHomogeneous(ordered, topics, sets, owned);
        else AssignGeneral(ordered, topics, sets, owned);

        return sets.ToDictionary(kv => kv.Key, kv => PartitionAssignment.From(kv.Value));
    }

    private static void AssignHomogeneous(List<AssignmentMember> members, IReadOnlyDictionary<Uuid, int> topics,
        Dictionary<string, SortedSet<(Uuid, int)>> sets, HashSet<(Uuid, int)> owned)
    {
        var subscribed = members[0].SubscribedTopicIds.Where(topics.ContainsKey).OrderBy(t => t, UuidComparer.Instance).ToList();
        int total = subscribed.Sum(t => topics[t]);
        int quota = total / members.Count, extra = total % members.Count;
        // The members keeping the most get the extra slots (fewest moves); ties by member id.
        var byKept = members.OrderByDescending(m => sets[m.MemberId].Count).ThenBy(m => m.MemberId, StringComparer.Ordinal).ToList();
        var capacity = new Dictionary<string, int>();
        for (int i = 0; i < byKept.Count; i++) capacity[byKept[i].MemberId] = quota + (i < extra ? 1 : 0);
        foreach (var m in byKept)
        {
            var set = sets[m.MemberId];
            while (set.Count > capacity[m.MemberId])
            {
                var last = set.Max;
                set.Remove(last);
                owned.Remove(last);
            }
        }
        var pool = new Queue<(Uuid, int)>();
        foreach (var t in subscribed)
            for (int p = 0; p < topics[t]; p++)
                if (!owned.Contains((t, p))) pool.Enqueue((t, p));
        foreach (var m in members)
        {
            var set = sets[m.MemberId];
            while (set.Count < capacity[m.MemberId] && pool.Count > 0)
            {
                var tp = pool.Dequeue();
                set.Add(tp);
                owned.Add(tp);
            }
        }
    }

    private static void AssignGeneral(List<AssignmentMember> members, IReadOnlyDictionary<Uuid, int> topics,
        Dictionary<string, SortedSet<(Uuid, int)>> sets, HashSet<(Uuid, int)> owned)
    {
        var eligible = new Dictionary<Uuid, List<AssignmentMember>>();
        foreach (var t in topics.Keys)
        {
            var list = members.Where(m => m.SubscribedTopicIds.Contains(t)).ToList();
            if (list.Count > 0) eligible[t] = list;
        }
        // 2. Place the free partitions, the most constrained topics first, on the least-loaded eligible member.
        foreach (var t in eligible.Keys.OrderBy(t => eligible[t].Count).ThenBy(t => t, UuidComparer.Instance))
        {
            for (int p = 0; p < topics[t]; p++)
            {
                if (owned.Contains((t, p))) continue;
                var target = eligible[t].MinBy(m => sets[m.MemberId].Count)!;
                sets[target.MemberId].Add((t, p));
                owned.Add((t, p));
            }
        }
        // 3. Balance: move a partition from a loaded member to an eligible member with at least two
        // fewer. Each move lowers the sum of squared counts, so this ends; the cap is a safety net.
        int cap = 1 + owned.Count * Math.Max(1, members.Count);
        for (int iteration = 0; iteration < cap; iteration++)
        {
            if (!MoveOne(members, sets)) break;
        }
    }

    private static bool MoveOne(List<AssignmentMember> members, Dictionary<string, SortedSet<(Uuid, int)>> sets)
    {
        var desc = members.OrderByDescending(m => sets[m.MemberId].Count).ThenBy(m => m.MemberId, StringComparer.Ordinal).ToList();
        var asc = members.OrderBy(m => sets[m.MemberId].Count).ThenBy(m => m.MemberId, StringComparer.Ordinal).ToList();
        foreach (var donor in desc)
        {
            var donorSet = sets[donor.MemberId];
            foreach (var receiver in asc)
            {
                var receiverSet = sets[receiver.MemberId];
                if (donorSet.Count - receiverSet.Count <= 1) break;
                foreach (var tp in donorSet.Reverse())
                {
                    if (!receiver.SubscribedTopicIds.Contains(tp.Item1)) continue;
                    donorSet.Remove(tp);
                    receiverSet.Add(tp);
                    return true;
                }
            }
        }
        return false;
    }
}

/// <summary>
/// The <c>range</c> assignor: for each topic, its subscribers (ordered by instance id, else member
/// id) get consecutive ranges of partitions; the first <c>partitions % subscribers</c> get one more.
/// Members with the same subscriptions therefore get the same partition numbers of co-partitioned
/// topics. Not sticky.
/// </summary>
public sealed class RangeAssignor : IConsumerGroupAssignor
{
    public string Name => "range";

    public IReadOnlyDictionary<string, PartitionAssignment> Assign(IReadOnlyList<AssignmentMember> members, IReadOnlyDictionary<Uuid, int> topics)
    {
        var result = members.ToDictionary(m => m.MemberId, _ => new List<(Uuid, int)>());
        var ordered = members
            .OrderBy(m => m.InstanceId ?? m.MemberId, StringComparer.Ordinal)
            .ThenBy(m => m.MemberId, StringComparer.Ordinal)
            .ToList();
        foreach (var (t, count) in topics.OrderBy(kv => kv.Key, UuidComparer.Instance))
        {
            var subscribers = ordered.Where(m => m.SubscribedTopicIds.Contains(t)).ToList();
            if (subscribers.Count == 0) continue;
            int per = count / subscribers.Count, extra = count % subscribers.Count, next = 0;
            for (int i = 0; i < subscribers.Count; i++)
            {
                int n = per + (i < extra ? 1 : 0);
                for (int k = 0; k < n; k++) result[subscribers[i].MemberId].Add((t, next++));
            }
        }
        return result.ToDictionary(kv => kv.Key, kv => PartitionAssignment.From(kv.Value));
    }
}

internal sealed class TopicPartitionComparer : IComparer<(Uuid, int)>
{
    public static readonly TopicPartitionComparer Instance = new();

    public int Compare((Uuid, int) x, (Uuid, int) y)
    {
        int c = UuidComparer.Instance.Compare(x.Item1, y.Item1);
        return c != 0 ? c : x.Item2.CompareTo(y.Item2);
    }
}
