using Fjord.Common;

namespace Fjord.Broker.FetchSessions;

/// <summary>
/// Identifies one partition of a <see cref="FetchContext"/>: the key under which the fetch path
/// hands its per-partition result back to <see cref="FetchContext.BuildResponse(IReadOnlyDictionary{FetchPartitionKey, Fjord.Protocol.Messages.FetchResponse.PartitionData}, long, int)"/>.
/// Always take it from <see cref="FetchPartitionParams.Key"/>; do not build it by hand
/// (<see cref="Topic"/> is null for an unknown topic id, and <see cref="TopicId"/> is whatever the
/// name lookup gave for a request that uses names).
/// </summary>
public readonly record struct FetchPartitionKey(Uuid TopicId, string? Topic, int Partition)
{
    public override string ToString() => $"{Topic ?? TopicId.ToString()}-{Partition}";
}

/// <summary>
/// What to read for one partition, as the request (or, for an incremental fetch, the session)
/// says. Values are copied: later requests of the same session never change an instance.
/// </summary>
/// <param name="Topic">The topic name; null only when the request identifies topics by id (v13+)
/// and the id is unknown (or zero) — then <see cref="UnknownTopicId"/> is true and the partition
/// must not be read: its result is UNKNOWN_TOPIC_ID, which <see cref="FetchContext"/> fills in.</param>
/// <param name="TopicId">The topic id: from the request for v13+, from the name lookup before
/// (<see cref="Uuid.Zero"/> when the name is unknown).</param>
/// <param name="Partition">The partition index.</param>
/// <param name="FetchOffset">The offset to read from.</param>
/// <param name="LogStartOffset">The fetcher's log start offset (followers; -1 for consumers).</param>
/// <param name="PartitionMaxBytes">At most this many bytes of this partition (the first batch is
/// returned whole even if larger, as Kafka does).</param>
/// <param name="CurrentLeaderEpoch">The leader epoch the fetcher believes current (fencing); -1 = unknown.</param>
/// <param name="LastFetchedEpoch">The epoch of the last fetched record (divergence check, v12+); -1 = none.</param>
public sealed record FetchPartitionParams(
    string? Topic,
    Uuid TopicId,
    int Partition,
    long FetchOffset,
    long LogStartOffset,
    int PartitionMaxBytes,
    int CurrentLeaderEpoch,
    int LastFetchedEpoch)
{
    /// <summary>True when the request used topic ids and this id names no topic known here.</summary>
    public bool UnknownTopicId => Topic is null;

    /// <summary>The key under which to return this partition's result.</summary>
    public FetchPartitionKey Key => new(TopicId, Topic, Partition);
}

/// <summary>Which of Kafka's four fetch contexts a request got (KIP-227).</summary>
public enum FetchContextKind
{
    /// <summary>SessionEpoch -1 (FINAL_EPOCH), or a version without sessions (v0-6): read what the
    /// request lists, answer every partition, SessionId 0. A SessionId ≠ 0 with epoch -1 closes that session first.</summary>
    Sessionless,

    /// <summary>SessionEpoch 0 (INITIAL_EPOCH): a full fetch that creates a new session when the
    /// response is built (if the cache has or can make room; otherwise the answer carries SessionId 0).
    /// A SessionId ≠ 0 with epoch 0 closes that session first.</summary>
    FullNewSession,

    /// <summary>SessionId ≠ 0 with the session's next epoch: read every partition of the session,
    /// answer only those that changed.</summary>
    Incremental,

    /// <summary>The request is rejected as a whole (<see cref="FetchContext.Error"/>): read nothing.</summary>
    SessionError,
}

/// <summary>Settings of a <see cref="FetchSessionCache"/> (Kafka's broker config keys).</summary>
/// <param name="MaxSlots"><c>max.incremental.fetch.session.cache.slots</c> (default 1000): most sessions
/// held at once; 0 disables incremental fetch sessions (every full fetch is answered with SessionId 0).</param>
/// <param name="EvictionMs"><c>min.incremental.fetch.session.eviction.ms</c> (default 120000): a session
/// idle longer than this is dropped at the next access of the cache; a session younger than this (since
/// creation) can only be displaced by a follower when it belongs to a consumer.</param>
public sealed record FetchSessionCacheOptions(int MaxSlots = FetchSessionCacheOptions.DefaultMaxSlots, long EvictionMs = FetchSessionCacheOptions.DefaultEvictionMs)
{
    public const int DefaultMaxSlots = 1000;
    public const long DefaultEvictionMs = 120_000;
    public const string MaxSlotsConfig = "max.incremental.fetch.session.cache.slots";
    public const string EvictionMsConfig = "min.incremental.fetch.session.eviction.ms";
}
