using Fjord.Broker.Coordinator;
using Fjord.Broker.Groups;
using Fjord.Common;

namespace Fjord.Broker.Tests.Groups;

/// <summary>The classic group state machine with a hand-driven timer and an in-memory log.</summary>
public sealed class GroupShardTests
{
    private readonly ManualCoordinatorTimer _timer = new();
    private readonly List<CoordinatorRecord> _log = [];
    private ErrorCode _appendError = ErrorCode.None;

    private GroupShard NewShard(GroupCoordinatorConfig? config = null, bool load = true)
    {
        var shard = new GroupShard(config ?? new GroupCoordinatorConfig { GroupInitialRebalanceDelayMs = 0 }, _timer, () => 1_000_000 + _timer.NowMs,
            (records, _) =>
            {
                if (_appendError == ErrorCode.None) _log.AddRange(records);
                return Task.FromResult(_appendError);
            });
        if (load) shard.OnLoaded();
        return shard;
    }

    private static JoinParams Join(string memberId, string? instance = null, bool requireKnown = true, int session = 10_000, string protocol = "range") =>
        new("g", memberId, instance, "client", "/127.0.0.1", session, 20_000, "consumer", [(protocol, [1, 2, 3])], requireKnown);

    private static GroupShard Replayed(IEnumerable<CoordinatorRecord> records, ManualCoordinatorTimer timer)
    {
        var shard = new GroupShard(new GroupCoordinatorConfig(), timer, () => 0, (_, _) => Task.FromResult(ErrorCode.None));
        long offset = 0;
        foreach (var r in records) shard.Replay(offset++, -1, -1, r.Key, r.Value is null ? null : (ReadOnlyMemory<byte>?)r.Value);
        shard.OnLoaded();
        return shard;
    }

    [Fact]
    public async Task A_new_member_gets_MEMBER_ID_REQUIRED_then_joins_syncs_and_heartbeats()
    {
        var shard = NewShard();
        var first = await shard.JoinAsync(Join(""));
        Assert.Equal(ErrorCode.MemberIdRequired, first.Error);
        Assert.StartsWith("client-", first.MemberId);

        var joined = await shard.JoinAsync(Join(first.MemberId));
        Assert.Equal(ErrorCode.None, joined.Error);
        Assert.Equal(1, joined.Generation);
        Assert.Equal(first.MemberId, joined.LeaderId);
        Assert.Equal("range", joined.ProtocolName);
        Assert.Single(joined.Members);

        var sync = await shard.SyncAsync("g", 1, first.MemberId, null, null, null, new Dictionary<string, byte[]> { [first.MemberId] = [9] });
        Assert.Equal(ErrorCode.None, sync.Error);
        Assert.Equal(new byte[] { 9 }, sync.Assignment);
        Assert.Equal(ClassicGroupState.Stable, shard.Group("g")!.State);
        Assert.Equal(ErrorCode.None, shard.Heartbeat("g", 1, first.MemberId, null));
        Assert.Equal(ErrorCode.IllegalGeneration, shard.Heartbeat("g", 0, first.MemberId, null));
        Assert.Equal(ErrorCode.UnknownMemberId, shard.Heartbeat("g", 1, "nobody", null));
        Assert.Single(_log); // the group metadata written at the leader's sync
    }

    [Fact]
    public async Task A_second_member_triggers_a_rebalance_and_both_get_the_new_generation()
    {
        var shard = NewShard();
        var a = (await shard.JoinAsync(Join("", requireKnown: false)));
        Assert.Equal(ErrorCode.None, a.Error);
        await shard.SyncAsync("g", 1, a.MemberId, null, null, null, new Dictionary<string, byte[]> { [a.MemberId] = [1] });

        var bJoin = shard.JoinAsync(Join("", requireKnown: false));
        Assert.False(bJoin.IsCompleted); // waits for a to rejoin
        Assert.Equal(ErrorCode.RebalanceInProgress, shard.Heartbeat("g", 1, a.MemberId, null));
        var aJoin = await shard.JoinAsync(Join(a.MemberId, requireKnown: false));
        var b = await bJoin;
        Assert.Equal(2, aJoin.Generation);
        Assert.Equal(2, b.Generation);
        Assert.Equal(a.MemberId, aJoin.LeaderId);
        Assert.Equal(2, aJoin.Members.Count);
        Assert.Empty(b.Members);

        var bSync = shard.SyncAsync("g", 2, b.MemberId, null, null, null, new Dictionary<string, byte[]>());
        Assert.False(bSync.IsCompleted);
        var aSync = await shard.SyncAsync("g", 2, a.MemberId, null, null, null, new Dictionary<string, byte[]> { [a.MemberId] = [1], [b.MemberId] = [2] });
        Assert.Equal(new byte[] { 2 }, (await bSync).Assignment);
        Assert.Equal(new byte[] { 1 }, aSync.Assignment);
    }

    [Fact]
    public async Task A_member_whose_session_expires_is_removed_and_the_others_rebalance()
    {
        var shard = NewShard();
        var a = await shard.JoinAsync(Join("", requireKnown: false));
        var bTask = shard.JoinAsync(Join("", requireKnown: false));
        // a must rejoin (the rebalance was started by b); a rejoins, generation 2 has both.
        var a2 = await shard.JoinAsync(Join(a.MemberId, requireKnown: false));
        var b = await bTask;
        await Task.WhenAll(
            shard.SyncAsync("g", 2, a.MemberId, null, null, null, new Dictionary<string, byte[]> { [a.MemberId] = [1], [b.MemberId] = [2] }),
            shard.SyncAsync("g", 2, b.MemberId, null, null, null, new Dictionary<string, byte[]>()));
        Assert.Equal(ClassicGroupState.Stable, shard.Group("g")!.State);

        for (int i = 0; i < 2; i++)
        {
            _timer.Advance(4_000);
            Assert.Equal(ErrorCode.None, shard.Heartbeat("g", 2, a.MemberId, null)); // only a heartbeats
        }
        _timer.Advance(4_000); // b's 10 s session is over
        Assert.False(shard.Group("g")!.Members.ContainsKey(b.MemberId));
        Assert.Equal(ErrorCode.RebalanceInProgress, shard.Heartbeat("g", 2, a.MemberId, null));
        var a3 = await shard.JoinAsync(Join(a.MemberId, requireKnown: false));
        Assert.Equal(3, a3.Generation);
        Assert.Single(a3.Members);
        Assert.Equal(2, a2.Generation);
    }

    [Fact]
    public async Task Leave_removes_members_and_an_emptied_group_becomes_Empty_with_a_new_generation()
    {
        var shard = NewShard();
        var a = await shard.JoinAsync(Join("", requireKnown: false));
        await shard.SyncAsync("g", 1, a.MemberId, null, null, null, new Dictionary<string, byte[]>());
        var (top, members) = shard.Leave("g", [(a.MemberId, null), ("ghost", null)]);
        Assert.Equal(ErrorCode.None, top);
        Assert.Equal([ErrorCode.None, ErrorCode.UnknownMemberId], members.Select(m => m.Error));
        var group = shard.Group("g")!;
        Assert.Equal(ClassicGroupState.Empty, group.State);
        Assert.Equal(2, group.Generation);
    }

    [Fact]
    public async Task A_static_member_rejoining_with_a_new_id_keeps_its_place_and_fences_the_old_id()
    {
        var shard = NewShard();
        var a = await shard.JoinAsync(Join("", instance: "i-1"));
        Assert.Equal(ErrorCode.None, a.Error); // static members skip MEMBER_ID_REQUIRED
        await shard.SyncAsync("g", 1, a.MemberId, "i-1", null, null, new Dictionary<string, byte[]> { [a.MemberId] = [7] });
        var bTask = shard.JoinAsync(Join("", instance: "i-2"));
        var a2 = await shard.JoinAsync(Join(a.MemberId, instance: "i-1"));
        var b = await bTask.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(ErrorCode.None, b.Error);
        await Task.WhenAll(
            shard.SyncAsync("g", 2, a.MemberId, "i-1", null, null, new Dictionary<string, byte[]> { [a.MemberId] = [7], [b.MemberId] = [8] }),
            shard.SyncAsync("g", 2, b.MemberId, "i-2", null, null, new Dictionary<string, byte[]>()));

        // b restarts: new member id, same instance id; no rebalance, same generation.
        var b2 = await shard.JoinAsync(Join("", instance: "i-2"));
        Assert.Equal(ErrorCode.None, b2.Error);
        Assert.NotEqual(b.MemberId, b2.MemberId);
        Assert.Equal(2, b2.Generation);
        Assert.Equal(ClassicGroupState.Stable, shard.Group("g")!.State);
        Assert.Equal(ErrorCode.FencedInstanceId, shard.Heartbeat("g", 2, b.MemberId, "i-2"));
        Assert.Equal(ErrorCode.None, shard.Heartbeat("g", 2, b2.MemberId, "i-2"));
        var sync = await shard.SyncAsync("g", 2, b2.MemberId, "i-2", null, null, new Dictionary<string, byte[]>());
        Assert.Equal(new byte[] { 8 }, sync.Assignment);
        Assert.Equal(2, a2.Generation);
    }

    [Fact]
    public async Task Join_errors_follow_Kafka()
    {
        var shard = NewShard();
        Assert.Equal(ErrorCode.InvalidSessionTimeout, (await shard.JoinAsync(Join("", session: 10))).Error);
        Assert.Equal(ErrorCode.UnknownMemberId, (await shard.JoinAsync(Join("who"))).Error);
        Assert.Equal(ErrorCode.InvalidGroupId, (await shard.JoinAsync(Join("") with { GroupId = "" })).Error);
        var a = await shard.JoinAsync(Join("", requireKnown: false));
        Assert.Equal(ErrorCode.InconsistentGroupProtocol, (await shard.JoinAsync(Join("", protocol: "other", requireKnown: false))).Error);
        shard.OnUnloaded();
        Assert.Equal(ErrorCode.NotCoordinator, (await shard.JoinAsync(Join(a.MemberId))).Error);
    }

    [Fact]
    public async Task The_initial_rebalance_delay_waits_for_more_members()
    {
        var shard = NewShard(new GroupCoordinatorConfig { GroupInitialRebalanceDelayMs = 3_000 });
        var a = shard.JoinAsync(Join("", requireKnown: false));
        _timer.Advance(2_000);
        var b = shard.JoinAsync(Join("", requireKnown: false));
        _timer.Advance(1_500); // first delay over, but b arrived: extended
        Assert.False(a.IsCompleted);
        _timer.Advance(3_000);
        Assert.Equal(1, (await a).Generation);
        Assert.Equal(1, (await b).Generation);
        Assert.Equal(2, (await a).Members.Count);
    }

    [Fact]
    public async Task Offsets_are_committed_fetched_deleted_and_survive_a_reload_from_the_records()
    {
        var shard = NewShard();
        var results = await shard.CommitOffsetsAsync("g", -1, "", null, -1,
            [new OffsetToCommit("t", 0, 42, 3, "meta"), new OffsetToCommit("t", 1, 7, -1, null), new OffsetToCommit("t", 2, 1, -1, new string('x', 5000))]);
        Assert.Equal(ErrorCode.None, results[("t", 0)]);
        Assert.Equal(ErrorCode.OffsetMetadataTooLarge, results[("t", 2)]);
        var (error, fetched) = shard.FetchOffsets("g", [("t", [0, 1, 5])]);
        Assert.Equal(ErrorCode.None, error);
        Assert.Equal([42L, 7L, -1L], fetched.Select(f => f.Offset));
        Assert.Equal("meta", fetched[0].Metadata);
        Assert.Equal(3, fetched[0].LeaderEpoch);

        var reloaded = Replayed(_log, new ManualCoordinatorTimer());
        Assert.Equal([42L, 7L], reloaded.FetchOffsets("g", null).Offsets.Select(f => f.Offset));

        var (delError, parts) = await shard.DeleteOffsetsAsync("g", [("t", 0)]);
        Assert.Equal(ErrorCode.None, delError);
        Assert.Equal(ErrorCode.None, parts[("t", 0)]);
        Assert.Equal(ErrorCode.None, await shard.DeleteGroupAsync("g"));
        Assert.Null(shard.Group("g"));
        Assert.Null(Replayed(_log, new ManualCoordinatorTimer()).Group("g"));
    }

    [Fact]
    public async Task A_member_commit_is_validated_and_a_failed_write_changes_nothing()
    {
        var shard = NewShard();
        var a = await shard.JoinAsync(Join("", requireKnown: false));
        Assert.Equal(ErrorCode.RebalanceInProgress, (await shard.CommitOffsetsAsync("g", 1, a.MemberId, null, -1, [new OffsetToCommit("t", 0, 1, -1, "")]))[("t", 0)]);
        await shard.SyncAsync("g", 1, a.MemberId, null, null, null, new Dictionary<string, byte[]>());
        Assert.Equal(ErrorCode.IllegalGeneration, (await shard.CommitOffsetsAsync("g", 0, a.MemberId, null, -1, [new OffsetToCommit("t", 0, 1, -1, "")]))[("t", 0)]);
        Assert.Equal(ErrorCode.UnknownMemberId, (await shard.CommitOffsetsAsync("g", -1, "", null, -1, [new OffsetToCommit("t", 0, 1, -1, "")]))[("t", 0)]);
        Assert.Equal(ErrorCode.NonEmptyGroup, await shard.DeleteGroupAsync("g"));
        _appendError = ErrorCode.NotLeaderOrFollower;
        Assert.Equal(ErrorCode.NotCoordinator, (await shard.CommitOffsetsAsync("g", 1, a.MemberId, null, -1, [new OffsetToCommit("t", 0, 5, -1, "")]))[("t", 0)]);
        Assert.Equal(-1, shard.FetchOffsets("g", [("t", [0])]).Offsets[0].Offset);
        _appendError = ErrorCode.None;
        Assert.Equal(ErrorCode.None, (await shard.CommitOffsetsAsync("g", 1, a.MemberId, null, -1, [new OffsetToCommit("t", 0, 6, -1, "")]))[("t", 0)]);
        Assert.Equal(6, shard.FetchOffsets("g", [("t", [0])]).Offsets[0].Offset);
    }

    [Fact]
    public async Task Offsets_of_an_empty_group_expire_after_the_retention_and_the_group_goes()
    {
        var shard = NewShard(new GroupCoordinatorConfig { GroupInitialRebalanceDelayMs = 0, OffsetsRetentionMs = 60_000, OffsetsRetentionCheckIntervalMs = 10_000 });
        await shard.CommitOffsetsAsync("g", -1, "", null, -1, [new OffsetToCommit("t", 0, 1, -1, "")]);
        _timer.Advance(50_000);
        Assert.NotNull(shard.Group("g"));
        _timer.Advance(20_000);
        Assert.Null(shard.Group("g"));
        Assert.Null(_log[^1].Value); // group tombstone
    }

    [Fact]
    public async Task A_loaded_stable_group_serves_its_members_and_expires_them_without_heartbeats()
    {
        var shard = NewShard();
        var a = await shard.JoinAsync(Join("", requireKnown: false));
        await shard.SyncAsync("g", 1, a.MemberId, null, null, null, new Dictionary<string, byte[]> { [a.MemberId] = [5] });
        var timer = new ManualCoordinatorTimer();
        var reloaded = Replayed(_log, timer);
        var group = reloaded.Group("g")!;
        Assert.Equal(ClassicGroupState.Stable, group.State);
        Assert.Equal(1, group.Generation);
        Assert.Equal(new byte[] { 5 }, group.Members[a.MemberId].Assignment);
        Assert.Equal(ErrorCode.None, reloaded.Heartbeat("g", 1, a.MemberId, null));
        timer.Advance(11_000);
        Assert.Equal(ClassicGroupState.Empty, reloaded.Group("g")!.State);
    }

    [Fact]
    public void Java_string_hash_matches_Kafka_partitioning()
    {
        Assert.Equal(0, JavaHash.StringHashCode(""));
        Assert.Equal(99162322, JavaHash.StringHashCode("hello"));
        Assert.Equal(158455506, JavaHash.StringHashCode("console-consumer-12345"));
        Assert.Equal(158455506 % 50, JavaHash.PartitionFor("console-consumer-12345", 50));
        Assert.Equal(0, JavaHash.PartitionFor("polygenelubricants", 50)); // hashCode is Integer.MIN_VALUE
    }
}
