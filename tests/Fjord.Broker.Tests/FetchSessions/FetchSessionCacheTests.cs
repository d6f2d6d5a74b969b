using Fjord.Broker.FetchSessions;
using Fjord.Common;
using Fjord.Protocol;
using Fjord.Protocol.Messages;

namespace Fjord.Broker.Tests.FetchSessions;

public sealed class FetchSessionCacheTests
{
    private static readonly Uuid FooId = new(0x1111, 0x2222);
    private static readonly Uuid BarId = new(0x3333, 0x4444);
    private static readonly Uuid GhostId = new(0x5555, 0x6666);

    private readonly Dictionary<string, Uuid> _topics = new() { ["foo"] = FooId, ["bar"] = BarId };

    private Uuid? IdOf(string name) => _topics.TryGetValue(name, out var id) ? id : null;
    private string? NameOf(Uuid id) => _topics.FirstOrDefault(kv => kv.Value == id).Key;

    private static FetchRequest.FetchPartition Part(int partition, long offset, int maxBytes = 1024, int leaderEpoch = 5, long logStart = -1, int lastFetchedEpoch = -1) => new()
    {
        Partition = partition, FetchOffset = offset, PartitionMaxBytes = maxBytes,
        CurrentLeaderEpoch = leaderEpoch, LogStartOffset = logStart, LastFetchedEpoch = lastFetchedEpoch,
    };

    /// <summary>A request naming topics by name (v7-12) or by id (v13+), as the version dictates.</summary>
    private static FetchRequest Request(short version, int sessionId, int epoch, params (string Topic, FetchRequest.FetchPartition[] Parts)[] topics) =>
        RequestWithForgotten(version, sessionId, epoch, [], topics);

    private static FetchRequest RequestWithForgotten(short version, int sessionId, int epoch, (string Topic, int[] Parts)[] forgotten, params (string Topic, FetchRequest.FetchPartition[] Parts)[] topics)
    {
        var r = new FetchRequest { SessionId = sessionId, SessionEpoch = epoch, MaxWaitMs = 500 };
        foreach (var (t, parts) in topics)
        {
            var ft = new FetchRequest.FetchTopic { Partitions = [.. parts] };
            if (version >= 13) ft.TopicId = TopicIdFor(t); else ft.Topic = t;
            r.Topics.Add(ft);
        }
        foreach (var (t, parts) in forgotten)
        {
            var ft = new FetchRequest.ForgottenTopic { Partitions = [.. parts] };
            if (version >= 13) ft.TopicId = TopicIdFor(t); else ft.Topic = t;
            r.ForgottenTopicsData.Add(ft);
        }
        return r;
    }

    private static Uuid TopicIdFor(string t) => t switch { "foo" => FooId, "bar" => BarId, "ghost" => GhostId, _ => Uuid.Zero };

    private FetchContext Ctx(FetchSessionCache cache, FetchRequest req, short version, long now, bool follower = false) =>
        cache.NewContext(req, version, follower, IdOf, NameOf, now);

    private static FetchResponse.PartitionData Data(long hw, int records = 0, short error = 0, long logStart = 0, long lso = -2, int preferred = -1) => new()
    {
        ErrorCode = error,
        HighWatermark = hw,
        LastStableOffset = lso == -2 ? hw : lso,
        LogStartOffset = logStart,
        PreferredReadReplica = preferred,
        Records = records > 0 ? new byte[records] : ReadOnlyMemory<byte>.Empty,
    };

    /// <summary>Answers every readable partition with <paramref name="answer"/>(params).</summary>
    private static FetchResponse Answer(FetchContext ctx, long now, Func<FetchPartitionParams, FetchResponse.PartitionData> answer)
    {
        var results = new Dictionary<FetchPartitionKey, FetchResponse.PartitionData>();
        foreach (var p in ctx.Partitions)
            if (!p.UnknownTopicId) results[p.Key] = answer(p);
        return ctx.BuildResponse(results, now);
    }

    private static List<string> Listed(FetchResponse r) =>
        [.. r.Responses.SelectMany(t => t.Partitions.Select(p => $"{(t.Topic.Length > 0 ? t.Topic : t.TopicId.ToString())}-{p.PartitionIndex}"))];

    private static List<string> Names(FetchContext ctx) => [.. ctx.Partitions.Select(p => $"{p.Topic}-{p.Partition}")];

    /// <summary>Creates a v12 session on foo-0, foo-1, bar-0 answered with high watermark 10; returns its id.</summary>
    private int CreateSession(FetchSessionCache cache, long now, short version = 12, bool follower = false)
    {
        var ctx = Ctx(cache, Request(version, 0, 0, ("foo", [Part(0, 3), Part(1, 4)]), ("bar", [Part(0, 5)])), version, now, follower);
        Assert.Equal(FetchContextKind.FullNewSession, ctx.Kind);
        var resp = Answer(ctx, now, _ => Data(10));
        Assert.NotEqual(0, resp.SessionId);
        Assert.Equal(3, Listed(resp).Count);
        return resp.SessionId;
    }

    [Fact]
    public void Sessionless_full_fetch_reads_everything_in_request_order_and_creates_no_session()
    {
        var cache = new FetchSessionCache();
        var ctx = Ctx(cache, Request(12, 0, -1, ("foo", [Part(1, 7, maxBytes: 99, leaderEpoch: 3, logStart: 2, lastFetchedEpoch: 4), Part(0, 1)]), ("bar", [Part(0, 5)])), 12, 1000);

        Assert.Equal(FetchContextKind.Sessionless, ctx.Kind);
        Assert.Equal(ErrorCode.None, ctx.Error);
        Assert.Equal(["foo-1", "foo-0", "bar-0"], Names(ctx));
        Assert.Equal(new FetchPartitionParams("foo", FooId, 1, 7, 2, 99, 3, 4), ctx.Partitions[0]);

        var resp = Answer(ctx, 1000, p => Data(p.FetchOffset + 1));
        Assert.Equal(0, resp.SessionId);
        Assert.Equal(0, resp.ErrorCode);
        Assert.Equal(["foo-1", "foo-0", "bar-0"], Listed(resp));
        Assert.Equal(8, resp.Responses[0].Partitions[0].HighWatermark);
        Assert.Equal(0, cache.Count);
    }

    [Fact]
    public void Versions_before_7_are_always_sessionless()
    {
        var cache = new FetchSessionCache();
        var ctx = Ctx(cache, Request(6, 0, 0, ("foo", [Part(0, 1)])), 6, 0);
        Assert.Equal(FetchContextKind.Sessionless, ctx.Kind);
        Assert.Equal(0, Answer(ctx, 0, _ => Data(1)).SessionId);
        Assert.Equal(0, cache.Count);
    }

    [Fact]
    public void Epoch_0_creates_a_session_whose_first_incremental_fetch_reads_the_cached_partitions()
    {
        var cache = new FetchSessionCache();
        int id = CreateSession(cache, 1000);
        Assert.True(id > 0);
        Assert.True(cache.Contains(id));
        Assert.Equal(1, cache.Count);
        Assert.Equal(3, cache.TotalPartitions);

        var inc = Ctx(cache, Request(12, id, 1), 12, 1001);
        Assert.Equal(FetchContextKind.Incremental, inc.Kind);
        Assert.Equal(id, inc.SessionId);
        Assert.Equal(["foo-0", "foo-1", "bar-0"], Names(inc));
        Assert.Equal(new FetchPartitionParams("bar", BarId, 0, 5, -1, 1024, 5, -1), inc.Partitions[2]);

        // Nothing changed: the response lists no partition but keeps the session.
        var resp = Answer(inc, 1001, _ => Data(10));
        Assert.Equal(id, resp.SessionId);
        Assert.Empty(resp.Responses);
    }

    [Fact]
    public void Incremental_fetch_adds_updates_and_forgets_partitions_and_advances_the_epoch()
    {
        var cache = new FetchSessionCache();
        int id = CreateSession(cache, 0);

        var req = RequestWithForgotten(12, id, 1, [("bar", [0])],
            ("foo", [Part(1, 40, maxBytes: 77, leaderEpoch: 6, logStart: 1, lastFetchedEpoch: 6), Part(2, 0)]));
        var ctx = Ctx(cache, req, 12, 1);
        Assert.Equal(FetchContextKind.Incremental, ctx.Kind);
        Assert.Equal(["foo-0", "foo-1", "foo-2"], Names(ctx));
        Assert.Equal(new FetchPartitionParams("foo", FooId, 1, 40, 1, 77, 6, 6), ctx.Partitions[1]);
        Assert.Equal(3, ctx.Partitions[0].FetchOffset); // untouched partition keeps its last offset

        // The new partition (never answered) is always included; the others only if changed.
        var resp = Answer(ctx, 1, _ => Data(10));
        Assert.Equal(["foo-2"], Listed(resp));
        Assert.Equal(3, cache.TotalPartitions);

        // The epoch moved on: 1 is no longer valid, 2 is.
        Assert.Equal(ErrorCode.InvalidFetchSessionEpoch, Ctx(cache, Request(12, id, 1), 12, 2).Error);
        Assert.Equal(FetchContextKind.Incremental, Ctx(cache, Request(12, id, 2), 12, 2).Kind);
    }

    [Fact]
    public void Incremental_response_lists_only_partitions_that_changed()
    {
        var cache = new FetchSessionCache();
        int id = CreateSession(cache, 0); // foo-0, foo-1, bar-0 all answered hw=10, lso=10, logStart=0
        int epoch = 1;

        List<string> Round(Func<FetchPartitionParams, FetchResponse.PartitionData> answer)
        {
            var ctx = Ctx(cache, Request(12, id, epoch++), 12, epoch);
            Assert.Equal(FetchContextKind.Incremental, ctx.Kind);
            var resp = Answer(ctx, epoch, answer);
            Assert.Equal(id, resp.SessionId);
            return Listed(resp);
        }

        Assert.Empty(Round(_ => Data(10)));
        Assert.Equal(["foo-1"], Round(p => p.Topic == "foo" && p.Partition == 1 ? Data(10, records: 50) : Data(10)));
        Assert.Equal(["bar-0"], Round(p => p.Topic == "bar" ? Data(11) : Data(10)));                   // high watermark
        Assert.Empty(Round(p => p.Topic == "bar" ? Data(11) : Data(10)));                              // remembered
        Assert.Equal(["foo-0"], Round(p => p.Topic == "bar" ? Data(11) : p.Partition == 0 ? Data(10, logStart: 4) : Data(10))); // log start
        Assert.Equal(["foo-1"], Round(p => p.Topic == "bar" ? Data(11) : p.Partition == 0 ? Data(10, logStart: 4) : Data(10, lso: 8))); // last stable offset
        Assert.Equal(["foo-1"], Round(p => p.Topic == "bar" ? Data(11) : p.Partition == 0 ? Data(10, logStart: 4) : Data(10, lso: 8, preferred: 2))); // preferred replica
        // An error is always sent, and the partition is sent again once the error clears.
        // (Here the error result repeats the unchanged watermarks: only the error can make it listed.)
        Assert.Equal(["bar-0"], Round(p => p.Topic == "bar" ? Data(11, error: (short)ErrorCode.NotLeaderOrFollower) : p.Partition == 0 ? Data(10, logStart: 4) : Data(10, lso: 8)));
        Assert.Equal(["bar-0"], Round(p => p.Topic == "bar" ? Data(11, error: (short)ErrorCode.NotLeaderOrFollower) : p.Partition == 0 ? Data(10, logStart: 4) : Data(10, lso: 8)));
        Assert.Equal(["bar-0"], Round(p => p.Topic == "bar" ? Data(11) : p.Partition == 0 ? Data(10, logStart: 4) : Data(10, lso: 8)));
        Assert.Empty(Round(p => p.Topic == "bar" ? Data(11) : p.Partition == 0 ? Data(10, logStart: 4) : Data(10, lso: 8)));
    }

    [Fact]
    public void Partitions_that_returned_records_move_to_the_end_of_the_session_order()
    {
        var cache = new FetchSessionCache();
        int id = CreateSession(cache, 0);
        var ctx = Ctx(cache, Request(12, id, 1), 12, 1);
        Answer(ctx, 1, p => p.Topic == "foo" && p.Partition == 0 ? Data(10, records: 10) : Data(10));
        Assert.Equal(["foo-1", "bar-0", "foo-0"], Names(Ctx(cache, Request(12, id, 2), 12, 2)));
    }

    [Fact]
    public void Wrong_epoch_is_rejected_without_touching_the_session()
    {
        var cache = new FetchSessionCache();
        int id = CreateSession(cache, 0);

        foreach (int bad in new[] { 2, 5, -7 })
        {
            var ctx = Ctx(cache, Request(12, id, bad, ("foo", [Part(9, 0)])), 12, 1);
            Assert.Equal(FetchContextKind.SessionError, ctx.Kind);
            Assert.Equal(ErrorCode.InvalidFetchSessionEpoch, ctx.Error);
            Assert.Empty(ctx.Partitions);
            var resp = ctx.BuildResponse(new Dictionary<FetchPartitionKey, FetchResponse.PartitionData>(), 1);
            Assert.Equal((short)ErrorCode.InvalidFetchSessionEpoch, resp.ErrorCode);
            Assert.Equal(0, resp.SessionId);
            Assert.Empty(resp.Responses);
        }
        var ok = Ctx(cache, Request(12, id, 1), 12, 2);
        Assert.Equal(["foo-0", "foo-1", "bar-0"], Names(ok)); // foo-9 was never added
    }

    [Fact]
    public void Unknown_session_id_is_FETCH_SESSION_ID_NOT_FOUND()
    {
        var cache = new FetchSessionCache();
        int id = CreateSession(cache, 0);
        int other = id == int.MaxValue ? 1 : id + 1;
        var ctx = Ctx(cache, Request(12, other, 1, ("foo", [Part(0, 1)])), 12, 1);
        Assert.Equal(ErrorCode.FetchSessionIdNotFound, ctx.Error);
        Assert.Empty(ctx.Partitions);
        var resp = ctx.BuildResponse(Array.Empty<FetchResponse.PartitionData?>(), 1);
        Assert.Equal((short)ErrorCode.FetchSessionIdNotFound, resp.ErrorCode);
        // Session id 0 with a positive epoch is not a session either.
        Assert.Equal(ErrorCode.FetchSessionIdNotFound, Ctx(cache, Request(12, 0, 3), 12, 1).Error);
    }

    [Fact]
    public void Epoch_minus_1_closes_the_session_and_fetches_sessionless()
    {
        var cache = new FetchSessionCache();
        int id = CreateSession(cache, 0);
        var ctx = Ctx(cache, Request(12, id, -1, ("bar", [Part(0, 8)])), 12, 1);
        Assert.Equal(FetchContextKind.Sessionless, ctx.Kind);
        Assert.Equal(["bar-0"], Names(ctx));
        Assert.False(cache.Contains(id));
        Assert.Equal(0, cache.TotalPartitions);
        Assert.Equal(0, Answer(ctx, 1, _ => Data(10)).SessionId);
        Assert.Equal(ErrorCode.FetchSessionIdNotFound, Ctx(cache, Request(12, id, 1), 12, 2).Error);
    }

    [Fact]
    public void Epoch_0_with_an_existing_id_replaces_that_session()
    {
        var cache = new FetchSessionCache();
        int id = CreateSession(cache, 0);
        var ctx = Ctx(cache, Request(12, id, 0, ("bar", [Part(0, 8)])), 12, 1);
        Assert.Equal(FetchContextKind.FullNewSession, ctx.Kind);
        Assert.False(cache.Contains(id));
        int fresh = Answer(ctx, 1, _ => Data(10)).SessionId;
        Assert.True(cache.Contains(fresh));
        Assert.Equal(1, cache.Count);
        Assert.Equal(1, cache.TotalPartitions);
    }

    [Fact]
    public void Forgetting_every_partition_removes_the_session()
    {
        var cache = new FetchSessionCache();
        int id = CreateSession(cache, 0);
        var ctx = Ctx(cache, RequestWithForgotten(12, id, 1, [("foo", [0, 1]), ("bar", [0])]), 12, 1);
        Assert.Equal(FetchContextKind.Sessionless, ctx.Kind);
        Assert.Empty(ctx.Partitions);
        Assert.Equal(0, ctx.BuildResponse(new Dictionary<FetchPartitionKey, FetchResponse.PartitionData>(), 1).SessionId);
        Assert.Equal(0, cache.Count);
    }

    [Fact]
    public void Full_cache_refuses_newcomers_while_sessions_are_young_then_evicts_by_rank()
    {
        const long evict = 1000;
        var cache = new FetchSessionCache(new FetchSessionCacheOptions(MaxSlots: 2, EvictionMs: evict));
        int a = CreateSession(cache, 0);                 // 3 partitions
        var small = Ctx(cache, Request(12, 0, 0, ("foo", [Part(0, 0)])), 12, 0);
        int b = Answer(small, 0, _ => Data(1)).SessionId;  // 1 partition
        Assert.Equal(2, cache.Count);

        // Both sessions are younger than EvictionMs: a consumer gets no session (SessionId 0).
        var third = Ctx(cache, Request(12, 0, 0, ("bar", [Part(0, 0), Part(1, 0)])), 12, 10);
        Assert.Equal(0, Answer(third, 10, _ => Data(1)).SessionId);
        Assert.True(cache.Contains(a) && cache.Contains(b));

        // Keep both in use past EvictionMs since creation (so none is idle-expired).
        int ea = 1, eb = 1;
        for (long t = 400; t <= 1600; t += 400)
        {
            Answer(Ctx(cache, Request(12, a, ea++), 12, t), t, _ => Data(10));
            Answer(Ctx(cache, Request(12, b, eb++), 12, t), t, _ => Data(1));
        }

        // A newcomer smaller than every old session is not worth an eviction...
        var tiny = Ctx(cache, RequestWithForgotten(12, 0, 0, []), 12, 1700);
        Assert.Equal(0, tiny.BuildResponse(new Dictionary<FetchPartitionKey, FetchResponse.PartitionData>(), 1700).SessionId);
        // ...nor is one of the same size as the smallest (b, 1 partition)...
        var same = Ctx(cache, Request(12, 0, 0, ("bar", [Part(3, 0)])), 12, 1700);
        Assert.Equal(0, Answer(same, 1700, _ => Data(1)).SessionId);
        // ...one larger than the smallest old session displaces it (b, not the larger a).
        var two = Ctx(cache, Request(12, 0, 0, ("bar", [Part(0, 0), Part(1, 0)])), 12, 1700);
        int c = Answer(two, 1700, _ => Data(1)).SessionId;
        Assert.NotEqual(0, c);
        Assert.True(cache.Contains(a));
        Assert.False(cache.Contains(b));
        Assert.Equal(2, cache.Count);
        Assert.Equal(5, cache.TotalPartitions);
    }

    [Fact]
    public void A_follower_may_displace_a_young_consumer_session_but_not_a_young_follower_session()
    {
        var cache = new FetchSessionCache(new FetchSessionCacheOptions(MaxSlots: 1, EvictionMs: 1000));
        int consumer = CreateSession(cache, 0);
        int follower = CreateSession(cache, 10, follower: true);
        Assert.False(cache.Contains(consumer));
        Assert.True(cache.Contains(follower));

        int another = CreateSessionOrZero(cache, 20, follower: true);
        Assert.Equal(0, another);
        Assert.Equal(0, CreateSessionOrZero(cache, 20, follower: false));
        Assert.True(cache.Contains(follower));
    }

    private int CreateSessionOrZero(FetchSessionCache cache, long now, bool follower)
    {
        var ctx = Ctx(cache, Request(12, 0, 0, ("foo", [Part(0, 0), Part(1, 0), Part(2, 0), Part(3, 0)])), 12, now, follower);
        return Answer(ctx, now, _ => Data(1)).SessionId;
    }

    [Fact]
    public void Zero_slots_disable_sessions()
    {
        var cache = new FetchSessionCache(new FetchSessionCacheOptions(MaxSlots: 0));
        var ctx = Ctx(cache, Request(12, 0, 0, ("foo", [Part(0, 0)])), 12, 0);
        Assert.Equal(0, Answer(ctx, 0, _ => Data(1)).SessionId);
        Assert.Equal(0, cache.Count);
    }

    [Fact]
    public void Idle_session_expires_at_the_next_access_after_EvictionMs()
    {
        var cache = new FetchSessionCache(new FetchSessionCacheOptions(MaxSlots: 10, EvictionMs: 1000));
        int id = CreateSession(cache, 0);
        int other = CreateSession(cache, 500);

        // Used at 900: stays alive until 1900.
        Answer(Ctx(cache, Request(12, id, 1), 12, 900), 900, _ => Data(10));
        var ctx = Ctx(cache, Request(12, id, 2), 12, 1900);
        Assert.Equal(FetchContextKind.Incremental, ctx.Kind);
        Answer(ctx, 1900, _ => Data(10));
        Assert.False(cache.Contains(other)); // idle since 500: swept by the access at 1900
        Assert.Equal(1, cache.Count);

        Assert.Equal(ErrorCode.FetchSessionIdNotFound, Ctx(cache, Request(12, id, 3), 12, 2901).Error);
        Assert.Equal(0, cache.Count);
        Assert.Equal(0, cache.TotalPartitions);
    }

    [Fact]
    public void Topic_id_sessions_key_by_id_and_answer_unknown_ids_with_UNKNOWN_TOPIC_ID()
    {
        var cache = new FetchSessionCache();
        var ctx = Ctx(cache, Request(13, 0, 0, ("foo", [Part(0, 1)]), ("ghost", [Part(0, 2), Part(1, 2)])), 13, 0);
        Assert.True(ctx.UsesTopicIds);
        Assert.Equal(new FetchPartitionParams("foo", FooId, 0, 1, -1, 1024, 5, -1), ctx.Partitions[0]);
        Assert.True(ctx.Partitions[1].UnknownTopicId);
        Assert.Equal(GhostId, ctx.Partitions[1].TopicId);

        var resp = Answer(ctx, 0, _ => Data(10)); // the fetch path does not answer ghost: the context does
        int id = resp.SessionId;
        Assert.NotEqual(0, id);
        Assert.Equal(2, resp.Responses.Count);
        Assert.Equal(FooId, resp.Responses[0].TopicId);
        var ghost = resp.Responses[1];
        Assert.Equal(GhostId, ghost.TopicId);
        Assert.All(ghost.Partitions, p => Assert.Equal((short)ErrorCode.UnknownTopicId, p.ErrorCode));
        Assert.Equal([0, 1], ghost.Partitions.Select(p => p.PartitionIndex));

        // Errors are repeated in incremental responses; foo is unchanged.
        var inc = Ctx(cache, Request(13, id, 1), 13, 1);
        Assert.Equal([GhostId.ToString() + "-0", GhostId.ToString() + "-1"], Listed(Answer(inc, 1, _ => Data(10))));

        // The topic appears under that id: the session resolves the name, and forgetting works by id.
        _topics["ghost"] = GhostId;
        var inc2 = Ctx(cache, RequestWithForgotten(13, id, 2, [("ghost", [1])]), 13, 2);
        Assert.Equal(["foo-0", "ghost-0"], Names(inc2));
        Assert.Equal(["ghost-0"], Listed(Answer(inc2, 2, _ => Data(10))).Select(s => s.Replace(GhostId.ToString(), "ghost")));
    }

    [Fact]
    public void Mixing_topic_names_and_ids_in_one_session_is_FETCH_SESSION_TOPIC_ID_ERROR()
    {
        var cache = new FetchSessionCache();
        int byName = CreateSession(cache, 0, version: 12);
        int byId = CreateSession(cache, 0, version: 13);

        var up = Ctx(cache, Request(13, byName, 1), 13, 1);
        Assert.Equal(ErrorCode.FetchSessionTopicIdError, up.Error);
        Assert.Equal((short)ErrorCode.FetchSessionTopicIdError, up.BuildThrottledResponse(0).ErrorCode);
        Assert.Equal(ErrorCode.FetchSessionTopicIdError, Ctx(cache, Request(12, byId, 1), 12, 1).Error);

        // Both sessions are still usable with their own kind of request.
        Assert.Equal(FetchContextKind.Incremental, Ctx(cache, Request(12, byName, 1), 12, 2).Kind);
        Assert.Equal(FetchContextKind.Incremental, Ctx(cache, Request(13, byId, 1), 13, 2).Kind);
    }

    [Fact]
    public void A_response_built_after_another_request_advanced_the_session_is_INVALID_FETCH_SESSION_EPOCH()
    {
        var cache = new FetchSessionCache();
        int id = CreateSession(cache, 0);
        var first = Ctx(cache, Request(12, id, 1), 12, 1);
        var second = Ctx(cache, Request(12, id, 2), 12, 2);
        var stale = Answer(first, 3, _ => Data(99));
        Assert.Equal((short)ErrorCode.InvalidFetchSessionEpoch, stale.ErrorCode);
        Assert.Equal(id, stale.SessionId);
        Assert.Empty(stale.Responses);
        // The stale answer did not record hw 99: the live one still sees a change from 10.
        Assert.Equal(3, Listed(Answer(second, 3, _ => Data(11))).Count);
    }

    [Fact]
    public void Throttled_responses_carry_no_partitions_and_create_no_session()
    {
        var cache = new FetchSessionCache();
        var full = Ctx(cache, Request(12, 0, 0, ("foo", [Part(0, 0)])), 12, 0);
        var r = full.BuildThrottledResponse(250);
        Assert.Equal(250, r.ThrottleTimeMs);
        Assert.Equal(0, r.SessionId);
        Assert.Empty(r.Responses);
        Assert.Equal(0, cache.Count);

        int id = CreateSession(cache, 0);
        var inc = Ctx(cache, Request(12, id, 1), 12, 1).BuildThrottledResponse(100);
        Assert.Equal(id, inc.SessionId);
        Assert.Empty(inc.Responses);
        Assert.Equal(FetchContextKind.Incremental, Ctx(cache, Request(12, id, 2), 12, 2).Kind);
    }

    [Fact]
    public void Missing_results_become_errors_and_a_context_builds_only_once()
    {
        var cache = new FetchSessionCache();
        var ctx = Ctx(cache, Request(12, 0, -1, ("foo", [Part(0, 0), Part(1, 0)])), 12, 0);
        var resp = ctx.BuildResponse([Data(5), null], 0);
        Assert.Equal(0, resp.Responses[0].Partitions[0].ErrorCode);
        Assert.Equal((short)ErrorCode.UnknownServerError, resp.Responses[0].Partitions[1].ErrorCode);
        Assert.Throws<InvalidOperationException>(() => ctx.BuildResponse([Data(5), Data(5)], 0));

        var ctx2 = Ctx(cache, Request(12, 0, -1, ("foo", [Part(0, 0)])), 12, 0);
        Assert.Throws<ArgumentException>(() => ctx2.BuildResponse([Data(5), Data(5)], 0));
    }

    [Fact]
    public void Duplicate_partitions_in_a_full_request_collapse_to_the_last_values()
    {
        var cache = new FetchSessionCache();
        var ctx = Ctx(cache, Request(12, 0, 0, ("foo", [Part(0, 1), Part(1, 1)]), ("foo", [Part(0, 9)])), 12, 0);
        Assert.Equal(["foo-0", "foo-1"], Names(ctx));
        Assert.Equal(9, ctx.Partitions[0].FetchOffset);
        int id = Answer(ctx, 0, _ => Data(1)).SessionId;
        Assert.Equal(2, cache.TotalPartitions);
        Assert.True(cache.Contains(id));
    }

    [Theory]
    [InlineData((short)7)]
    [InlineData((short)12)]
    [InlineData((short)13)]
    [InlineData((short)18)]
    public void Responses_encode_and_decode_at_every_session_version(short version)
    {
        var cache = new FetchSessionCache();
        var ctx = Ctx(cache, Request(version, 0, 0, ("foo", [Part(0, 0)]), ("bar", [Part(2, 0)])), version, 0);
        var resp = Answer(ctx, 0, _ => Data(3, records: 0));
        var bytes = resp.Serialize(version);
        var reader = new KafkaReader(bytes);
        var back = FetchResponse.Read(ref reader, version);
        Assert.Equal(resp.SessionId, back.SessionId);
        Assert.Equal(2, back.Responses.Count);
        if (version >= 13) Assert.Equal(BarId, back.Responses[1].TopicId);
        else Assert.Equal("bar", back.Responses[1].Topic);
        Assert.Equal(2, back.Responses[1].Partitions[0].PartitionIndex);
    }

    [Fact]
    public void Epochs_wrap_from_int_max_to_1()
    {
        Assert.Equal(1, FetchSession.FollowingEpoch(0));
        Assert.Equal(8, FetchSession.FollowingEpoch(7));
        Assert.Equal(1, FetchSession.FollowingEpoch(int.MaxValue));
        Assert.Equal(-1, FetchSession.FollowingEpoch(-1));
    }

    [Fact]
    public async Task Concurrent_clients_keep_the_cache_consistent()
    {
        var cache = new FetchSessionCache(new FetchSessionCacheOptions(MaxSlots: 8, EvictionMs: 1_000_000));
        long clock = 0;
        var deadline = DateTime.UtcNow.AddSeconds(20);
        var failures = new System.Collections.Concurrent.ConcurrentQueue<string>();

        async Task Client(int seed)
        {
            await Task.Yield();
            var random = new Random(seed);
            int id = 0, epoch = 0;
            for (int round = 0; round < 400 && DateTime.UtcNow < deadline; round++)
            {
                long now = Interlocked.Increment(ref clock);
                FetchRequest req = id == 0
                    ? Request(12, 0, 0, ("foo", [Part(random.Next(4), round)]))
                    : Request(12, id, epoch, ("bar", [Part(random.Next(4), round)]));
                var ctx = cache.NewContext(req, 12, random.Next(4) == 0, IdOfSafe, NameOfSafe, now);
                var resp = Answer(ctx, now, p => Data(round, records: random.Next(2)));
                if (ctx.Kind == FetchContextKind.SessionError)
                {
                    if (ctx.Error != ErrorCode.FetchSessionIdNotFound) failures.Enqueue($"unexpected {ctx.Error}");
                    id = 0; epoch = 0;
                }
                else if (ctx.Kind == FetchContextKind.FullNewSession)
                {
                    id = resp.SessionId; epoch = 1;
                }
                else
                {
                    if (resp.SessionId != id) failures.Enqueue($"session id changed {id} -> {resp.SessionId}");
                    epoch++;
                }
                if (cache.Count > 8) failures.Enqueue($"count {cache.Count}");
            }
        }

        await Task.WhenAll(Enumerable.Range(0, 12).Select(i => Task.Run(() => Client(i))));
        Assert.Empty(failures);
        Assert.InRange(cache.Count, 1, 8);
        Assert.InRange(cache.TotalPartitions, 1, 8 * 5);
    }

    // Thread-safe lookups for the concurrency test (the instance dictionary is only read there).
    private static Uuid? IdOfSafe(string name) => name switch { "foo" => FooId, "bar" => BarId, _ => null };
    private static string? NameOfSafe(Uuid id) => id == FooId ? "foo" : id == BarId ? "bar" : null;
}
