using Fjord.Common;
using Fjord.Protocol.Messages;

namespace Fjord.Broker.FetchSessions;

/// <summary>
/// The broker's incremental fetch sessions (KIP-227), keyed by session id. Thread-safe.
/// <para>
/// Per request: <see cref="NewContext"/> decides, from SessionId / SessionEpoch, which partitions
/// to read; the fetch path reads them and hands the results to
/// <see cref="FetchContext.BuildResponse(IReadOnlyDictionary{FetchPartitionKey, FetchResponse.PartitionData}, long, int)"/>,
/// which creates the session (full fetch with epoch 0) or filters the answer down to the changed
/// partitions (incremental fetch).
/// </para>
/// <para>
/// Invariants: at most <see cref="FetchSessionCacheOptions.MaxSlots"/> sessions; session ids are
/// positive and unique among live sessions; a session's expected epoch only moves forward (1, 2, …,
/// int.MaxValue, 1, …); a session idle for more than <see cref="FetchSessionCacheOptions.EvictionMs"/>
/// is removed at the next access of the cache (there are no timer threads). Lock order: a session's
/// lock, then the cache's lock, never the reverse.
/// </para>
/// </summary>
public sealed class FetchSessionCache
{
    private readonly object _lock = new();
    private readonly Dictionary<int, FetchSession> _sessions = new();
    private readonly SortedSet<(long LastUsedMs, int Id)> _lastUsed = new();
    private readonly SortedSet<EvictableKey> _evictableByPrivileged = new();
    private readonly SortedSet<EvictableKey> _evictableByAll = new();
    private readonly Random _random;
    private long _numPartitions;
    private int _fallbackId;

    public FetchSessionCache(FetchSessionCacheOptions? options = null, Random? random = null)
    {
        Options = options ?? new FetchSessionCacheOptions();
        if (Options.EvictionMs < 0) throw new ArgumentOutOfRangeException(nameof(options), "EvictionMs must be >= 0");
        _random = random ?? new Random();
    }

    public FetchSessionCacheOptions Options { get; }

    /// <summary>Number of live sessions.</summary>
    public int Count { get { lock (_lock) return _sessions.Count; } }

    /// <summary>Partitions across all sessions (as of each session's last use).</summary>
    public long TotalPartitions { get { lock (_lock) return _numPartitions; } }

    /// <summary>True when a session with this id is live (does not count as a use).</summary>
    public bool Contains(int sessionId) { lock (_lock) return _sessions.ContainsKey(sessionId); }

    /// <summary>
    /// Interprets a Fetch request's session fields and returns what to read.
    /// <list type="bullet">
    /// <item>v0-6, or SessionEpoch -1: <see cref="FetchContextKind.Sessionless"/> (a SessionId ≠ 0 closes that session).</item>
    /// <item>SessionEpoch 0: <see cref="FetchContextKind.FullNewSession"/> (a SessionId ≠ 0 closes that session); the new
    /// session is made by <c>BuildResponse</c>.</item>
    /// <item>otherwise incremental: FETCH_SESSION_ID_NOT_FOUND when no such session, INVALID_FETCH_SESSION_EPOCH when the
    /// epoch is not the session's next, FETCH_SESSION_TOPIC_ID_ERROR when the request's version uses topic ids and the
    /// session does not or vice versa; else the request's partitions are added/updated, its forgotten ones removed, the
    /// epoch advanced, and every partition of the session is to be read. A session left empty is removed (the answer is sessionless).</item>
    /// </list>
    /// </summary>
    /// <param name="request">The decoded request.</param>
    /// <param name="version">Its version: v13+ identifies topics by id, earlier by name.</param>
    /// <param name="isFollower">A replica's fetch (ReplicaId ≥ 0): its sessions are privileged for eviction.</param>
    /// <param name="topicIdOf">Topic name → id (null when unknown); used for v7-12 requests.</param>
    /// <param name="topicNameOf">Topic id → name (null when unknown); used for v13+ requests.</param>
    /// <param name="nowMs">A monotonic clock in milliseconds (the same clock for every call).</param>
    public FetchContext NewContext(FetchRequest request, short version, bool isFollower,
        Func<string, Uuid?> topicIdOf, Func<Uuid, string?> topicNameOf, long nowMs)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(topicIdOf);
        ArgumentNullException.ThrowIfNull(topicNameOf);
        bool usesTopicIds = version >= 13;

        if (version < 7)
        {
            lock (_lock) ExpireIdle(nowMs);
            return FullContext(FetchContextKind.Sessionless, request, version, usesTopicIds, isFollower, topicIdOf, topicNameOf);
        }

        int sessionId = request.SessionId;
        int epoch = request.SessionEpoch;
        if (epoch == FetchContext.FinalEpoch || epoch == FetchContext.InitialEpoch)
        {
            lock (_lock)
            {
                ExpireIdle(nowMs);
                if (sessionId != 0 && _sessions.TryGetValue(sessionId, out var old)) RemoveLocked(old);
            }
            var kind = epoch == FetchContext.FinalEpoch ? FetchContextKind.Sessionless : FetchContextKind.FullNewSession;
            return FullContext(kind, request, version, usesTopicIds, isFollower, topicIdOf, topicNameOf);
        }

        FetchSession? session;
        lock (_lock)
        {
            ExpireIdle(nowMs);
            _sessions.TryGetValue(sessionId, out session);
        }
        if (session is null) return FetchContext.ForError(ErrorCode.FetchSessionIdNotFound, version);

        lock (session)
        {
            if (session.NextEpoch != epoch) return FetchContext.ForError(ErrorCode.InvalidFetchSessionEpoch, version);
            if (session.UsesTopicIds != usesTopicIds) return FetchContext.ForError(ErrorCode.FetchSessionTopicIdError, version);

            foreach (var topic in request.Topics)
            {
                foreach (var p in topic.Partitions)
                {
                    var key = usesTopicIds ? SessionPartitionKey.ById(topic.TopicId, p.Partition) : SessionPartitionKey.ByName(topic.Topic ?? "", p.Partition);
                    var cp = session.Find(key) ?? session.Add(key);
                    cp.UpdateRequestParams(p);
                }
            }
            foreach (var forgotten in request.ForgottenTopicsData)
            {
                foreach (int partition in forgotten.Partitions)
                {
                    var key = usesTopicIds ? SessionPartitionKey.ById(forgotten.TopicId, partition) : SessionPartitionKey.ByName(forgotten.Topic ?? "", partition);
                    session.Remove(key);
                }
            }

            if (session.Size == 0)
            {
                lock (_lock) { if (session.InCache) RemoveLocked(session); }
                return new FetchContext(FetchContextKind.Sessionless, ErrorCode.None, version, usesTopicIds, [], [], cache: null, session: null, privileged: isFollower, expectedEpoch: 0);
            }

            lock (_lock) { if (session.InCache) TouchLocked(session, session.Size, nowMs); }
            session.NextEpoch = FetchSession.FollowingEpoch(session.NextEpoch);

            var parameters = new List<FetchPartitionParams>(session.Size);
            var keys = new List<SessionPartitionKey>(session.Size);
            foreach (var cp in session.Partitions)
            {
                string? name;
                Uuid id;
                if (usesTopicIds)
                {
                    id = cp.Key.TopicId;
                    name = id.IsZero ? null : topicNameOf(id);
                }
                else
                {
                    name = cp.Key.Topic!;
                    id = topicIdOf(name) ?? Uuid.Zero;
                }
                parameters.Add(new FetchPartitionParams(name, id, cp.Key.Partition, cp.FetchOffset, cp.FetcherLogStartOffset,
                    cp.MaxBytes, cp.CurrentLeaderEpoch, cp.LastFetchedEpoch));
                keys.Add(cp.Key);
            }
            return new FetchContext(FetchContextKind.Incremental, ErrorCode.None, version, usesTopicIds, parameters, keys,
                cache: this, session: session, privileged: session.Privileged, expectedEpoch: session.NextEpoch);
        }
    }

    private FetchContext FullContext(FetchContextKind kind, FetchRequest request, short version, bool usesTopicIds, bool isFollower,
        Func<string, Uuid?> topicIdOf, Func<Uuid, string?> topicNameOf)
    {
        // Duplicates (bad input) collapse onto the first position with the last values, as a map would.
        var positions = new Dictionary<SessionPartitionKey, int>();
        var parameters = new List<FetchPartitionParams>();
        var keys = new List<SessionPartitionKey>();
        foreach (var topic in request.Topics)
        {
            string? name;
            Uuid id;
            if (usesTopicIds)
            {
                id = topic.TopicId;
                name = id.IsZero ? null : topicNameOf(id);
            }
            else
            {
                name = topic.Topic ?? "";
                id = topicIdOf(name) ?? Uuid.Zero;
            }
            foreach (var p in topic.Partitions)
            {
                var key = usesTopicIds ? SessionPartitionKey.ById(id, p.Partition) : SessionPartitionKey.ByName(name!, p.Partition);
                var param = new FetchPartitionParams(name, id, p.Partition, p.FetchOffset, p.LogStartOffset,
                    p.PartitionMaxBytes, p.CurrentLeaderEpoch, p.LastFetchedEpoch);
                if (positions.TryGetValue(key, out int at))
                {
                    parameters[at] = param;
                }
                else
                {
                    positions.Add(key, parameters.Count);
                    parameters.Add(param);
                    keys.Add(key);
                }
            }
        }
        return new FetchContext(kind, ErrorCode.None, version, usesTopicIds, parameters, keys,
            cache: kind == FetchContextKind.FullNewSession ? this : null, session: null, privileged: isFollower, expectedEpoch: 0);
    }

    /// <summary>
    /// Creates a session holding <paramref name="partitions"/> if there is a free slot or one can be
    /// freed (Kafka's rule: first the least recently used session if idle past EvictionMs, else the
    /// lowest-ranked evictable session — one older than EvictionMs since creation, or for a privileged
    /// newcomer also any non-privileged session — when the newcomer outranks it, see <see cref="EvictableKey"/>).
    /// Returns the new id, or 0 when no room.
    /// </summary>
    internal int MaybeCreateSession(long nowMs, bool privileged, bool usesTopicIds, Action<FetchSession> fill, int size)
    {
        lock (_lock)
        {
            ExpireIdle(nowMs);
            if (Options.MaxSlots <= 0) return 0;
            if (_sessions.Count >= Options.MaxSlots && !TryEvictLocked(privileged, new EvictableKey(privileged, size, 0), nowMs))
                return 0;
            // The new session is unreachable by other threads until it is in _sessions, and it is
            // published under this lock (which readers take before the session's), so filling it
            // here needs no session lock (taking it would invert the lock order).
            var session = new FetchSession(NewSessionIdLocked(), privileged, usesTopicIds, nowMs);
            fill(session);
            _sessions.Add(session.Id, session);
            session.InCache = true;
            TouchLocked(session, session.Size, nowMs);
            return session.Id;
        }
    }

    private int NewSessionIdLocked()
    {
        for (int attempt = 0; attempt < 64; attempt++)
        {
            int id = _random.Next(1, int.MaxValue);
            if (!_sessions.ContainsKey(id)) return id;
        }
        // Practically unreachable (≤ MaxSlots ids taken out of 2^31): scan for a free id.
        for (long i = 0; i <= _sessions.Count; i++)
        {
            _fallbackId = _fallbackId == int.MaxValue || _fallbackId < 1 ? 1 : _fallbackId + 1;
            if (!_sessions.ContainsKey(_fallbackId)) return _fallbackId;
        }
        throw new InvalidOperationException("no free fetch session id");
    }

    private bool TryEvictLocked(bool privileged, EvictableKey newcomer, long nowMs)
    {
        if (_lastUsed.Count == 0) return false;
        var lru = _lastUsed.Min;
        if (nowMs - lru.LastUsedMs > Options.EvictionMs)
        {
            RemoveLocked(_sessions[lru.Id]);
            return true;
        }
        var candidates = privileged ? _evictableByPrivileged : _evictableByAll;
        if (candidates.Count == 0) return false;
        var weakest = candidates.Min;
        if (newcomer.CompareTo(weakest) < 0) return false;
        RemoveLocked(_sessions[weakest.Id]);
        return true;
    }

    /// <summary>Drops the sessions idle for more than EvictionMs (oldest first; bounded by the session count).</summary>
    private void ExpireIdle(long nowMs)
    {
        int budget = _lastUsed.Count;
        while (budget-- > 0 && _lastUsed.Count > 0)
        {
            var lru = _lastUsed.Min;
            if (nowMs - lru.LastUsedMs <= Options.EvictionMs) break;
            RemoveLocked(_sessions[lru.Id]);
        }
    }

    /// <summary>Records a use of the session at <paramref name="nowMs"/> with its current size
    /// (read by the caller under the session's lock) and refreshes its eviction rank.</summary>
    private void TouchLocked(FetchSession session, int size, long nowMs)
    {
        if (session.CachedSize >= 0) _lastUsed.Remove((session.LastUsedMs, session.Id));
        session.LastUsedMs = nowMs;
        _lastUsed.Add((nowMs, session.Id));

        if (session.CachedEvictableKey is { } oldKey)
        {
            _evictableByPrivileged.Remove(oldKey);
            _evictableByAll.Remove(oldKey);
        }
        if (session.CachedSize >= 0) _numPartitions -= session.CachedSize;
        session.CachedSize = size;
        _numPartitions += size;

        var key = new EvictableKey(session.Privileged, size, session.Id);
        bool old = nowMs - session.CreationMs > Options.EvictionMs;
        bool any = false;
        if (!session.Privileged || old) { _evictableByPrivileged.Add(key); any = true; }
        if (old) { _evictableByAll.Add(key); any = true; }
        session.CachedEvictableKey = any ? key : null;
    }

    private void RemoveLocked(FetchSession session)
    {
        if (!_sessions.Remove(session.Id)) return;
        session.InCache = false;
        _lastUsed.Remove((session.LastUsedMs, session.Id));
        if (session.CachedEvictableKey is { } key)
        {
            _evictableByPrivileged.Remove(key);
            _evictableByAll.Remove(key);
            session.CachedEvictableKey = null;
        }
        if (session.CachedSize >= 0) _numPartitions -= session.CachedSize;
        session.CachedSize = -1;
    }
}
