using Fjord.Common;
using Fjord.Protocol.Messages;

namespace Fjord.Broker.FetchSessions;

/// <summary>
/// How a session indexes its partitions: by (topic id, partition) when the session was created by
/// a v13+ request (topic ids), by (topic name, partition) before. Exactly one of the two topic
/// fields is set, so a name session and an id session never share keys.
/// </summary>
internal readonly record struct SessionPartitionKey(Uuid TopicId, string? Topic, int Partition)
{
    public static SessionPartitionKey ById(Uuid topicId, int partition) => new(topicId, null, partition);
    public static SessionPartitionKey ByName(string topic, int partition) => new(Uuid.Zero, topic, partition);
}

/// <summary>
/// One partition of a session: the fetch parameters the client last sent (request side) and what
/// the broker last answered for it (response side). Guarded by its session's lock.
/// </summary>
internal sealed class CachedPartition
{
    public CachedPartition(SessionPartitionKey key) => Key = key;

    public SessionPartitionKey Key { get; }

    // Request side: replaced by every request of the session that names the partition.
    public long FetchOffset;
    public long FetcherLogStartOffset = -1;
    public int MaxBytes;
    public int CurrentLeaderEpoch = -1;
    public int LastFetchedEpoch = -1;

    // Response side: what the last response that included the partition carried; -1 = "never
    // answered" (or answered with an error), which differs from any real value, so the next answer
    // always includes the partition.
    public long HighWatermark = -1;
    public long LastStableOffset = -1;
    public long LocalLogStartOffset = -1;

    public void UpdateRequestParams(FetchRequest.FetchPartition p)
    {
        FetchOffset = p.FetchOffset;
        FetcherLogStartOffset = p.LogStartOffset;
        MaxBytes = p.PartitionMaxBytes;
        CurrentLeaderEpoch = p.CurrentLeaderEpoch;
        LastFetchedEpoch = p.LastFetchedEpoch;
    }

    public void SetRequestParams(FetchPartitionParams p)
    {
        FetchOffset = p.FetchOffset;
        FetcherLogStartOffset = p.LogStartOffset;
        MaxBytes = p.PartitionMaxBytes;
        CurrentLeaderEpoch = p.CurrentLeaderEpoch;
        LastFetchedEpoch = p.LastFetchedEpoch;
    }

    /// <summary>
    /// Kafka's rule for an incremental response, applied to one partition's result: the partition
    /// is included when it carries records, an error, a preferred read replica, a diverging epoch or
    /// a snapshot id, or when its high watermark, last stable offset or log start offset differs
    /// from the last value sent in this session. The cached values are updated to the result's; an
    /// error resets the cached high watermark to -1 so the partition is sent again once the error clears.
    /// (Kafka does not track the last stable offset; including partitions whose LSO moved is a
    /// superset, which clients accept.)
    /// </summary>
    public bool MaybeUpdateResponseData(FetchResponse.PartitionData r)
    {
        bool mustRespond = r.Records is { Length: > 0 };
        if (r.HighWatermark != HighWatermark)
        {
            mustRespond = true;
            HighWatermark = r.HighWatermark;
        }
        if (r.LastStableOffset != LastStableOffset)
        {
            mustRespond = true;
            LastStableOffset = r.LastStableOffset;
        }
        if (r.LogStartOffset != LocalLogStartOffset)
        {
            mustRespond = true;
            LocalLogStartOffset = r.LogStartOffset;
        }
        if (r.PreferredReadReplica >= 0) mustRespond = true;
        if (r.DivergingEpoch is { } d && (d.Epoch >= 0 || d.EndOffset >= 0)) mustRespond = true;
        if (r.SnapshotId is { } s && s.EndOffset >= 0) mustRespond = true;
        if (r.ErrorCode != (short)ErrorCode.None)
        {
            HighWatermark = -1;
            mustRespond = true;
        }
        return mustRespond;
    }
}

/// <summary>
/// An incremental fetch session (KIP-227). Identity and creation data are immutable; the partition
/// map and <see cref="NextEpoch"/> are guarded by <c>lock (session)</c>; the cache bookkeeping
/// fields are guarded by the cache's lock. Lock order: a session's lock may be held while taking the
/// cache's lock, never the reverse.
/// </summary>
internal sealed class FetchSession
{
    private readonly LinkedList<CachedPartition> _order = new();
    private readonly Dictionary<SessionPartitionKey, LinkedListNode<CachedPartition>> _index = new();

    public FetchSession(int id, bool privileged, bool usesTopicIds, long creationMs)
    {
        Id = id;
        Privileged = privileged;
        UsesTopicIds = usesTopicIds;
        CreationMs = creationMs;
    }

    public int Id { get; }

    /// <summary>Created by a follower (replica) fetch: harder to evict.</summary>
    public bool Privileged { get; }

    /// <summary>Created by a v13+ request: partitions keyed by topic id; v7-12 requests are refused on it.</summary>
    public bool UsesTopicIds { get; }

    public long CreationMs { get; }

    /// <summary>The epoch the next incremental request must carry (1 after creation; wraps from int.MaxValue to 1).</summary>
    public int NextEpoch = 1;

    // Cache bookkeeping (guarded by the cache's lock).
    public long LastUsedMs;
    public int CachedSize = -1;
    public EvictableKey? CachedEvictableKey;
    public bool InCache;

    public int Size => _index.Count;

    /// <summary>Partitions in session order: the order an incremental fetch reads them.</summary>
    public IEnumerable<CachedPartition> Partitions => _order;

    public CachedPartition? Find(SessionPartitionKey key) => _index.TryGetValue(key, out var node) ? node.Value : null;

    public CachedPartition Add(SessionPartitionKey key)
    {
        var cp = new CachedPartition(key);
        _index.Add(key, _order.AddLast(cp));
        return cp;
    }

    public bool Remove(SessionPartitionKey key)
    {
        if (!_index.Remove(key, out var node)) return false;
        _order.Remove(node);
        return true;
    }

    /// <summary>Moves a partition to the end of the session order (after it returned records, so the
    /// others get their turn at the response size limit first next time).</summary>
    public void MoveToEnd(SessionPartitionKey key)
    {
        if (!_index.TryGetValue(key, out var node)) return;
        _order.Remove(node);
        _order.AddLast(node);
    }

    public static int FollowingEpoch(int epoch) => epoch < 0 ? -1 : epoch == int.MaxValue ? 1 : epoch + 1;
}

/// <summary>
/// The eviction rank of a session: non-privileged before privileged, then fewer partitions first,
/// then lower id. A newcomer, ranked with id 0, may displace the lowest-ranked evictable session only
/// when it does not rank lower — so it must be privileged against a non-privileged session, or equally
/// privileged with strictly more partitions.
/// </summary>
internal readonly record struct EvictableKey(bool Privileged, int Size, int Id) : IComparable<EvictableKey>
{
    public int CompareTo(EvictableKey other)
    {
        int c = Privileged.CompareTo(other.Privileged);
        if (c != 0) return c;
        c = Size.CompareTo(other.Size);
        return c != 0 ? c : Id.CompareTo(other.Id);
    }
}
