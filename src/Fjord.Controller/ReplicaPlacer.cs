namespace Fjord.Controller;

/// <summary>
/// Rack-aware replica placement (the idea of Kafka's rack-aware assignment): the usable brokers are
/// put in one list that alternates racks (first broker of each rack, then the second of each, …);
/// partition p's leader is the list entry at (start + p) mod n, so leaders go round-robin over the
/// brokers and racks; each follower is taken at a shifted position (the shift grows every time the
/// partitions wrap around the list, so followers do not always sit next to their leader), skipping
/// brokers already holding the partition and, until every rack holds a replica, racks already used.
/// </summary>
public static class ReplicaPlacer
{
    /// <summary>The brokers in placement order: by id when no broker has a rack, otherwise
    /// alternating racks (racks by name, brokers by id within each; no rack counts as a rack).</summary>
    public static IReadOnlyList<BrokerRegistration> PlacementOrder(IEnumerable<BrokerRegistration> brokers)
    {
        ArgumentNullException.ThrowIfNull(brokers);
        var sorted = brokers.OrderBy(b => b.Id).ToList();
        if (sorted.All(b => b.Rack is null)) return sorted;
        var racks = sorted.GroupBy(b => b.Rack ?? "", StringComparer.Ordinal).OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => g.ToList()).ToList();
        var order = new List<BrokerRegistration>(sorted.Count);
        for (int i = 0; order.Count < sorted.Count; i++)
            foreach (var rack in racks)
                if (i < rack.Count) order.Add(rack[i]);
        return order;
    }

    /// <summary>
    /// Replicas for partitions <paramref name="firstPartition"/> … firstPartition + count - 1, each
    /// with <paramref name="replicationFactor"/> distinct brokers out of <paramref name="brokers"/>
    /// (which must hold at least that many). <paramref name="start"/> and <paramref name="shift"/>
    /// (any non-negative values; the caller draws them at random per topic) spread topics apart.
    /// </summary>
    public static List<int[]> Place(IEnumerable<BrokerRegistration> brokers, int firstPartition, int count, int replicationFactor, int start, int shift)
    {
        var order = PlacementOrder(brokers);
        int n = order.Count;
        if (replicationFactor < 1 || replicationFactor > n)
            throw new ArgumentOutOfRangeException(nameof(replicationFactor), $"replication factor {replicationFactor} with {n} usable broker(s)");
        ArgumentOutOfRangeException.ThrowIfNegative(start);
        ArgumentOutOfRangeException.ThrowIfNegative(shift);
        ArgumentOutOfRangeException.ThrowIfNegative(firstPartition);
        int rackCount = order.Select(b => b.Rack ?? "").Distinct(StringComparer.Ordinal).Count();
        var result = new List<int[]>(count);
        for (int p = firstPartition; p < firstPartition + count; p++)
        {
            int leaderIndex = (int)((start + (long)p) % n);
            var replicas = new List<int>(replicationFactor) { order[leaderIndex].Id };
            var racksUsed = new HashSet<string>(StringComparer.Ordinal) { order[leaderIndex].Rack ?? "" };
            long wrapShift = shift + (long)p / n;
            for (int j = 1; j < replicationFactor; j++)
            {
                BrokerRegistration? chosen = null, fallback = null;
                for (int k = 0; k < n - 1 && chosen is null; k++)
                {
                    // Offsets 1 … n-1 from the leader, starting at a shifted one.
                    int offset = 1 + (int)((wrapShift + j - 1 + k) % (n - 1));
                    var candidate = order[(leaderIndex + offset) % n];
                    if (replicas.Contains(candidate.Id)) continue;
                    fallback ??= candidate;
                    if (racksUsed.Count == rackCount || !racksUsed.Contains(candidate.Rack ?? "")) chosen = candidate;
                }
                chosen ??= fallback ?? throw new InvalidOperationException("no broker left for a replica");
                replicas.Add(chosen.Id);
                racksUsed.Add(chosen.Rack ?? "");
                if (racksUsed.Count == rackCount && replicas.Count < replicationFactor) racksUsed.Clear();
            }
            result.Add([.. replicas]);
        }
        return result;
    }
}
