using System.Collections.Immutable;
using System.Text;
using Fjord.Common;

namespace Fjord.Broker.Groups.Consumer;

/// <summary>Orders topic ids (most significant bits, then least significant bits; signed).</summary>
public sealed class UuidComparer : IComparer<Uuid>
{
    public static readonly UuidComparer Instance = new();

    public int Compare(Uuid x, Uuid y)
    {
        int c = x.MostSignificantBits.CompareTo(y.MostSignificantBits);
        return c != 0 ? c : x.LeastSignificantBits.CompareTo(y.LeastSignificantBits);
    }
}

/// <summary>
/// An immutable set of topic partitions keyed by topic id (a member's assignment, target assignment
/// or partitions pending revocation). Topics with no partition are never stored, so two sets with
/// the same partitions are equal whatever way they were built. Iteration order is deterministic
/// (topic id order, then partition order).
/// </summary>
public sealed class PartitionAssignment : IEquatable<PartitionAssignment>
{
    private static readonly ImmutableSortedDictionary<Uuid, ImmutableSortedSet<int>> EmptyTopics =
        ImmutableSortedDictionary.Create<Uuid, ImmutableSortedSet<int>>(UuidComparer.Instance);

    public static readonly PartitionAssignment Empty = new(EmptyTopics);

    private PartitionAssignment(ImmutableSortedDictionary<Uuid, ImmutableSortedSet<int>> topics)
    {
        Topics = topics;
        int count = 0;
        foreach (var set in topics.Values) count += set.Count;
        Count = count;
    }

    /// <summary>Partitions per topic id; no empty entries.</summary>
    public ImmutableSortedDictionary<Uuid, ImmutableSortedSet<int>> Topics { get; }

    /// <summary>Total number of partitions.</summary>
    public int Count { get; }

    public bool IsEmpty => Count == 0;

    public static PartitionAssignment From(IEnumerable<(Uuid TopicId, int Partition)> partitions)
    {
        var builder = new Dictionary<Uuid, ImmutableSortedSet<int>.Builder>();
        foreach (var (t, p) in partitions)
        {
            if (!builder.TryGetValue(t, out var set)) builder[t] = set = ImmutableSortedSet.CreateBuilder<int>();
            set.Add(p);
        }
        if (builder.Count == 0) return Empty;
        var topics = EmptyTopics.ToBuilder();
        foreach (var (t, set) in builder) topics[t] = set.ToImmutable();
        return new PartitionAssignment(topics.ToImmutable());
    }

    public static PartitionAssignment From(IEnumerable<KeyValuePair<Uuid, IEnumerable<int>>> topics) =>
        From(topics.SelectMany(kv => kv.Value.Select(p => (kv.Key, p))));

    /// <summary>Every (topic id, partition) pair, in topic id then partition order.</summary>
    public IEnumerable<(Uuid TopicId, int Partition)> All()
    {
        foreach (var (t, set) in Topics)
            foreach (var p in set) yield return (t, p);
    }

    public ImmutableSortedSet<int> PartitionsOf(Uuid topicId) =>
        Topics.TryGetValue(topicId, out var set) ? set : ImmutableSortedSet<int>.Empty;

    public bool Contains(Uuid topicId, int partition) => Topics.TryGetValue(topicId, out var set) && set.Contains(partition);

    public bool IsSubsetOf(PartitionAssignment other) => All().All(tp => other.Contains(tp.TopicId, tp.Partition));

    /// <summary>True when the two sets share at least one partition.</summary>
    public bool Overlaps(PartitionAssignment other) => All().Any(tp => other.Contains(tp.TopicId, tp.Partition));

    public PartitionAssignment Union(PartitionAssignment other) => From(All().Concat(other.All()));

    public PartitionAssignment Except(PartitionAssignment other) => From(All().Where(tp => !other.Contains(tp.TopicId, tp.Partition)));

    public PartitionAssignment Intersect(PartitionAssignment other) => From(All().Where(tp => other.Contains(tp.TopicId, tp.Partition)));

    public bool Equals(PartitionAssignment? other)
    {
        if (other is null) return false;
        if (ReferenceEquals(this, other)) return true;
        if (Count != other.Count || Topics.Count != other.Topics.Count) return false;
        foreach (var (t, set) in Topics)
            if (!other.Topics.TryGetValue(t, out var o) || !set.SetEquals(o)) return false;
        return true;
    }

    public override bool Equals(object? obj) => obj is PartitionAssignment other && Equals(other);

    public override int GetHashCode()
    {
        var h = new HashCode();
        foreach (var (t, p) in All()) { h.Add(t); h.Add(p); }
        return h.ToHashCode();
    }

    /// <summary><c>{topicId:[0,1],...}</c>, deterministic.</summary>
    public override string ToString()
    {
        var sb = new StringBuilder("{");
        bool first = true;
        foreach (var (t, set) in Topics)
        {
            if (!first) sb.Append(',');
            first = false;
            sb.Append(t).Append(":[").Append(string.Join(',', set)).Append(']');
        }
        return sb.Append('}').ToString();
    }
}
