using Fjord.Broker.Coordinator;
using Fjord.Broker.Groups;
using Fjord.Broker.Groups.Consumer;
using Fjord.Common;
using Fjord.Protocol.Messages;

namespace Fjord.Broker.Tests.Groups;

/// <summary>
/// KIP-848 consumer groups served by <see cref="GroupShard"/> (as <see cref="GroupCoordinator"/>
/// drives it): a hand-driven timer, an in-memory log whose appends can be made to fail, and
/// simulated members that heartbeat with the partitions they own.
/// </summary>
public sealed class ConsumerGroupShardTests
{
    private static readonly ConsumerGroupTopic Orders = new(new Uuid(11, 12), "orders", 6);
    private readonly ManualCoordinatorTimer _timer = new();
    private readonly List<CoordinatorRecord> _log = [];
    private ErrorCode _appendError = ErrorCode.None;

    private static GroupCoordinatorConfig Config => new()
    {
        GroupInitialRebalanceDelayMs = 0,
        ConsumerGroups = new ConsumerGroupConfig { SessionTimeoutMs = 10_000, HeartbeatIntervalMs = 500 },
    };

    private GroupShard NewShard()
    {
        var shard = new GroupShard(Config, _timer, () => 1_000_000 + _timer.NowMs, (records, _) =>
        {
            if (_appendError == ErrorCode.None) _log.AddRange(records);
            return Task.FromResult(_appendError);
        }, () => new StaticTopicMetadata([Orders]));
        shard.OnLoaded();
        return shard;
    }

    private GroupShard Replayed()
    {
        var shard = new GroupShard(Config, new ManualCoordinatorTimer(), () => 1_000_000, (_, _) => Task.FromResult(ErrorCode.None),
            () => new StaticTopicMetadata([Orders]));
        long offset = 0;
        foreach (var r in _log) shard.Replay(offset++, -1, -1, r.Key, r.Value is null ? null : (ReadOnlyMemory<byte>?)r.Value);
        shard.OnLoaded();
        return shard;
    }

    /// <summary>A simulated KIP-848 member: its epoch and the partitions it owns (from the answers).</summary>
    private sealed class Member(string id)
    {
        public string Id { get; } = id;
        public int Epoch { get; set; }
        public SortedSet<int> Owned { get; } = [];
    }

    private static async Task<ConsumerGroupHeartbeatResponse> Beat(GroupShard shard, Member m, string group = "g")
    {
        var request = new ConsumerGroupHeartbeatRequest
        {
            GroupId = group,
            MemberId = m.Id,
            MemberEpoch = m.Epoch,
            RebalanceTimeoutMs = m.Epoch == 0 ? 5_000 : -1,
            SubscribedTopicNames = m.Epoch == 0 ? ["orders"] : null,
            TopicPartitions = m.Epoch == 0 ? [] : [new() { TopicId = Orders.Id, Partitions = [.. m.Owned] }],
        };
        var response = await shard.ConsumerGroupHeartbeatAsync(request, 1, "client-" + m.Id, "/127.0.0.1");
        if (response.ErrorCode == 0)
        {
            m.Epoch = response.MemberEpoch;
            if (response.Assignment is { } a)
            {
                m.Owned.Clear();
                foreach (var tp in a.TopicPartitions.Where(t => t.TopicId == Orders.Id))
                    foreach (int p in tp.Partitions) m.Owned.Add(p);
            }
        }
        return response;
    }

    /// <summary>Heartbeats every member in turn until all own a disjoint full assignment at the group epoch (bounded).</summary>
    private static async Task Converge(GroupShard shard, params Member[] members)
    {
        for (int round = 0; round < 20; round++)
        {
            foreach (var m in members) Assert.Equal(0, (await Beat(shard, m)).ErrorCode);
            var group = shard.ConsumerGroup("g")!;
            if (group.State == ConsumerGroupState.Stable && members.All(m => m.Epoch == group.GroupEpoch)
                && members.Sum(m => m.Owned.Count) == Orders.NumPartitions)
                break;
        }
        AssertDisjointAndFull(members);
    }

    private static void AssertDisjointAndFull(params Member[] members)
    {
        var all = members.SelectMany(m => m.Owned).ToList();
        Assert.Equal(all.Count, all.Distinct().Count());
        Assert.Equal(Enumerable.Range(0, Orders.NumPartitions), all.Order());
    }

    [Fact]
    public async Task Members_converge_to_a_disjoint_full_assignment_and_a_reload_gives_the_same_group()
    {
        var shard = NewShard();
        var a = new Member("member-a");
        var b = new Member("member-b");
        await Converge(shard, a, b);
        Assert.Equal(3, a.Owned.Count);
        Assert.Equal(3, b.Owned.Count);
        Assert.True(shard.IsConsumerGroup("g"));
        Assert.Contains(("g", "Stable"), shard.ListConsumerGroups());
        var described = shard.DescribeConsumerGroup("g", 1);
        Assert.Equal(0, described.ErrorCode);
        Assert.Equal(["member-a", "member-b"], described.Members.Select(m => m.MemberId).Order());

        var reloaded = Replayed();
        var group = reloaded.ConsumerGroup("g")!;
        Assert.Equal(shard.ConsumerGroup("g")!.GroupEpoch, group.GroupEpoch);
        Assert.Equal(a.Owned, group.Member("member-a")!.AssignedPartitions.All().Select(tp => tp.Partition).Order());
        Assert.Equal(b.Owned, group.Member("member-b")!.AssignedPartitions.All().Select(tp => tp.Partition).Order());
        Assert.Equal(shard.DumpConsumerGroups(), reloaded.DumpConsumerGroups());
    }

    [Fact]
    public async Task A_silent_member_is_expired_by_the_timer_and_its_partitions_move()
    {
        var shard = NewShard();
        var a = new Member("member-a");
        var b = new Member("member-b");
        await Converge(shard, a, b);
        int epochBefore = shard.ConsumerGroup("g")!.GroupEpoch;
        int recordsBefore = _log.Count;
        // a keeps heartbeating, b goes silent past the 10 s session.
        for (int i = 0; i < 6; i++)
        {
            _timer.Advance(2_000);
            Assert.Equal(0, (await Beat(shard, a)).ErrorCode);
        }
        var group = shard.ConsumerGroup("g")!;
        Assert.Null(group.Member("member-b"));
        Assert.True(group.GroupEpoch > epochBefore);
        Assert.True(_log.Count > recordsBefore); // the removal was written
        await Converge(shard, a);
        Assert.Equal(Orders.NumPartitions, a.Owned.Count);
        Assert.Equal((short)ErrorCode.UnknownMemberId, (await Beat(shard, b)).ErrorCode);
        Assert.Null(Replayed().ConsumerGroup("g")!.Member("member-b"));
    }

    [Fact]
    public async Task Offsets_commit_with_the_member_epoch_and_the_classic_protocol_is_refused()
    {
        var shard = NewShard();
        var a = new Member("member-a");
        await Converge(shard, a);
        var offsets = new List<OffsetToCommit> { new("orders", 0, 42, -1, "m") };
        Assert.Equal(ErrorCode.None, (await shard.CommitOffsetsAsync("g", a.Epoch, a.Id, null, -1, offsets)).Values.Single());
        Assert.Equal(ErrorCode.StaleMemberEpoch, (await shard.CommitOffsetsAsync("g", a.Epoch - 1, a.Id, null, -1, offsets)).Values.Single());
        Assert.Equal(ErrorCode.UnknownMemberId, (await shard.CommitOffsetsAsync("g", 1, "nobody", null, -1, offsets)).Values.Single());
        Assert.Equal(ErrorCode.None, (await shard.CommitOffsetsAsync("g", -1, "", null, -1, offsets)).Values.Single()); // admin commit
        var (error, fetched) = shard.FetchOffsets("g", [("orders", [0])]);
        Assert.Equal(ErrorCode.None, error);
        Assert.Equal(42, fetched.Single().Offset);
        Assert.Equal(ErrorCode.None, shard.ValidateConsumerOffsetFetch("g", a.Id, a.Epoch));
        Assert.Equal(ErrorCode.StaleMemberEpoch, shard.ValidateConsumerOffsetFetch("g", a.Id, a.Epoch + 5));
        Assert.Equal(ErrorCode.UnknownMemberId, shard.ValidateConsumerOffsetFetch("g", "nobody", 1));

        // The classic protocol may not use the id, and the classic view does not list the offsets holder as a group of its own.
        var join = await shard.JoinAsync(new JoinParams("g", "", null, "c", "/h", 10_000, 10_000, "consumer", [("range", [1])], true));
        Assert.Equal(ErrorCode.GroupIdNotFound, join.Error);
        // The offsets survive a reload.
        Assert.Equal(42, Replayed().FetchOffsets("g", [("orders", [0])]).Offsets.Single().Offset);
    }

    [Fact]
    public async Task A_classic_group_with_members_refuses_the_consumer_protocol()
    {
        var shard = NewShard();
        var first = await shard.JoinAsync(new JoinParams("classic", "", null, "c", "/h", 10_000, 10_000, "consumer", [("range", [1])], false));
        Assert.Equal(ErrorCode.None, first.Error);
        var response = await Beat(shard, new Member("m"), "classic");
        Assert.Equal((short)ErrorCode.GroupIdNotFound, response.ErrorCode);
        Assert.False(shard.IsConsumerGroup("classic"));
    }

    [Fact]
    public async Task A_failed_write_fails_the_heartbeat_and_the_state_goes_back_to_the_log()
    {
        var shard = NewShard();
        var a = new Member("member-a");
        await Converge(shard, a);
        _appendError = ErrorCode.NotLeaderOrFollower;
        var b = new Member("member-b");
        Assert.Equal((short)ErrorCode.NotCoordinator, (await Beat(shard, b)).ErrorCode);
        Assert.Null(shard.ConsumerGroup("g")!.Member("member-b")); // rebuilt from the committed records
        _appendError = ErrorCode.RequestTimedOut;
        b.Epoch = 0;
        Assert.Equal((short)ErrorCode.CoordinatorNotAvailable, (await Beat(shard, b)).ErrorCode);
        _appendError = ErrorCode.None;
        b.Epoch = 0;
        await Converge(shard, a, b);
        Assert.Equal(shard.DumpConsumerGroups(), Replayed().DumpConsumerGroups());
    }

    [Fact]
    public async Task Delete_needs_an_empty_group_and_removes_its_offsets()
    {
        var shard = NewShard();
        var a = new Member("member-a");
        await Converge(shard, a);
        await shard.CommitOffsetsAsync("g", a.Epoch, a.Id, null, -1, [new("orders", 1, 7, -1, null)]);
        Assert.Equal(ErrorCode.NonEmptyGroup, await shard.DeleteConsumerGroupAsync("g"));
        a.Epoch = ConsumerGroupManager.LeaveEpoch;
        Assert.Equal(0, (await Beat(shard, a)).ErrorCode);
        Assert.Equal(ErrorCode.None, await shard.DeleteConsumerGroupAsync("g"));
        Assert.False(shard.IsConsumerGroup("g"));
        Assert.Equal(-1, shard.FetchOffsets("g", [("orders", [1])]).Offsets.Single().Offset);
        Assert.Equal(ErrorCode.GroupIdNotFound, await shard.DeleteConsumerGroupAsync("g"));
        var reloaded = Replayed();
        Assert.False(reloaded.IsConsumerGroup("g"));
        Assert.Equal(-1, reloaded.FetchOffsets("g", [("orders", [1])]).Offsets.Single().Offset);
    }

    [Fact]
    public void Bad_consumer_record_bytes_are_a_format_error()
    {
        var shard = new GroupShard(Config, _timer, () => 0, (_, _) => Task.FromResult(ErrorCode.None), () => StaticTopicMetadata.Empty);
        Assert.Throws<FormatException>(() => shard.Replay(0, -1, -1, new byte[] { 0, 5, 1 }, new byte[] { 0, 0, 9 }));
    }
}
