using Fjord.Broker.Groups.Consumer;
using Fjord.Common;
using Fjord.Protocol.Messages;

namespace Fjord.Broker.Tests.Groups.Consumer;

public sealed class ConsumerGroupStateTests
{
    [Fact]
    public void Static_member_leaving_temporarily_keeps_its_partitions_and_comes_back_under_a_new_member_id()
    {
        var h = new ConsumerGroupHarness();
        h.AddTopic("a", 4);
        var s1 = h.Join("s1-run1", ["a"], instanceId: "inst-1");
        h.Join("m2", ["a"]);
        h.Converge();
        var owned = s1.Owned;
        int epoch = h.G.GroupEpoch;

        var leave = s1.Leave(temporary: true);
        Assert.Equal(-2, leave.MemberEpoch);
        Assert.Equal(epoch, h.G.GroupEpoch); // no rebalance
        Assert.Equal(-2, h.G.Member("s1-run1")!.MemberEpoch);
        Assert.Equal(owned, h.G.Member("s1-run1")!.AssignedPartitions);

        // Another process may not take the instance id while it is held...
        var other = h.Send(new ConsumerGroupHeartbeatRequest
        {
            GroupId = "g", MemberId = "x", MemberEpoch = 5, InstanceId = "inst-1",
        });
        Assert.Equal((short)ErrorCode.FencedInstanceId, other.ErrorCode);

        // ...but the restarted instance (new member id, epoch 0) takes over without a rebalance.
        var s1b = h.Join("s1-run2", ["a"], instanceId: "inst-1");
        Assert.Equal(epoch, h.G.GroupEpoch);
        Assert.Null(h.G.Member("s1-run1"));
        Assert.Equal(owned, s1b.Owned);
        Assert.Equal(epoch, s1b.Epoch);
        Assert.Equal(ConsumerGroupState.Stable, h.G.State);
    }

    [Fact]
    public void An_active_static_member_cannot_be_replaced_and_an_absent_one_expires()
    {
        var h = new ConsumerGroupHarness();
        h.AddTopic("a", 2);
        var s1 = h.Join("s1", ["a"], instanceId: "inst-1");
        var dup = h.Send(new ConsumerGroupHeartbeatRequest
        {
            GroupId = "g", MemberId = "s1-bis", MemberEpoch = 0, InstanceId = "inst-1", RebalanceTimeoutMs = 1000, SubscribedTopicNames = ["a"], TopicPartitions = [],
        });
        Assert.Equal((short)ErrorCode.UnreleasedInstanceId, dup.ErrorCode);

        s1.Leave(temporary: true);
        h.Now += 45000;
        Assert.Equal([("g", "s1")], h.Expire());
        Assert.Empty(h.G.Members);
        Assert.Equal(ConsumerGroupState.Empty, h.G.State);
    }

    [Fact]
    public void Static_member_leaving_for_good_is_removed()
    {
        var h = new ConsumerGroupHarness();
        h.AddTopic("a", 2);
        var s1 = h.Join("s1", ["a"], instanceId: "inst-1");
        s1.Leave();
        Assert.Empty(h.G.Members);
        Assert.Null(h.G.StaticMember("inst-1"));
        Assert.Equal(2, h.G.GroupEpoch);
    }

    [Fact]
    public void Describe_reports_state_epochs_assignor_and_members()
    {
        var h = new ConsumerGroupHarness();
        h.AddTopic("a", 4);
        h.AddTopic("b", 1);
        var m1 = h.Join("m1", ["a", "b"], assignor: "range");
        h.Send(new ConsumerGroupHeartbeatRequest
        {
            GroupId = "g", MemberId = "m2", MemberEpoch = 0, InstanceId = "i2", RackId = "r1", RebalanceTimeoutMs = 1000,
            SubscribedTopicNames = ["a"], TopicPartitions = [],
        }, clientId: "c2");
        var resp = h.Manager.Describe(new ConsumerGroupDescribeRequest { GroupIds = ["g", "missing", ""] }, 1, h.Topics);
        Assert.Equal(3, resp.Groups.Count);
        var g = resp.Groups[0];
        Assert.Equal((short)ErrorCode.None, g.ErrorCode);
        Assert.Equal("Reconciling", g.GroupState);
        Assert.Equal(2, g.GroupEpoch);
        Assert.Equal(2, g.AssignmentEpoch);
        Assert.Equal("range", g.AssignorName);
        Assert.Equal(["m1", "m2"], g.Members.Select(m => m.MemberId));
        var d1 = g.Members[0];
        Assert.Equal(1, d1.MemberEpoch);
        Assert.Equal(["a", "b"], d1.SubscribedTopicNames);
        Assert.Equal(5, d1.Assignment.TopicPartitions.Sum(t => t.Partitions.Count));
        Assert.Equal(3, d1.TargetAssignment.TopicPartitions.Sum(t => t.Partitions.Count));
        Assert.Contains(d1.Assignment.TopicPartitions, t => t.TopicName == "a" && t.Partitions.Count == 4);
        Assert.Equal(1, d1.MemberType);
        var d2 = g.Members[1];
        Assert.Equal("i2", d2.InstanceId);
        Assert.Equal("r1", d2.RackId);
        Assert.Equal("c2", d2.ClientId);
        Assert.Equal("/127.0.0.1", d2.ClientHost);
        Assert.Empty(d2.Assignment.TopicPartitions);
        Assert.Equal(2, d2.TargetAssignment.TopicPartitions.Single().Partitions.Count);

        Assert.Equal((short)ErrorCode.GroupIdNotFound, resp.Groups[1].ErrorCode);
        Assert.Equal((short)ErrorCode.InvalidGroupId, resp.Groups[2].ErrorCode);

        m1.Heartbeat();
        m1.Heartbeat();
        h.Clients.Add("m2", new SimClient(h, "m2", "i2", ["a"], null, null, 1000) { Epoch = 2 });
        h.Converge();
        Assert.Equal("Stable", h.Manager.DescribeGroup("g", 0, h.Topics).GroupState);
        Assert.Equal(-1, h.Manager.DescribeGroup("g", 0, h.Topics).Members[0].MemberType);
        h.Clients["m1"].Leave();
        h.Clients["m2"].Leave();
        Assert.Equal("Empty", h.Manager.DescribeGroup("g", 1, h.Topics).GroupState);
    }

    [Fact]
    public void Empty_groups_can_be_deleted_and_their_tombstones_remove_them_on_replay()
    {
        var h = new ConsumerGroupHarness();
        h.AddTopic("a", 2);
        var m = h.Join("m1", ["a"]);
        Assert.Equal(ErrorCode.NonEmptyGroup, h.Apply(h.Manager.DeleteGroup("g")));
        m.Leave();
        Assert.Equal(ErrorCode.None, h.Apply(h.Manager.DeleteGroup("g")));
        Assert.False(h.Manager.Contains("g"));
        Assert.False(h.Replica.Contains("g"));
        Assert.Equal(ErrorCode.GroupIdNotFound, h.Apply(h.Manager.DeleteGroup("g")));
    }

    [Fact]
    public void Offset_commits_are_checked_against_the_member_epoch()
    {
        var h = new ConsumerGroupHarness();
        h.AddTopic("a", 2);
        h.Join("m1", ["a"]);
        Assert.Equal(ErrorCode.None, h.Manager.ValidateOffsetCommit("g", "m1", 1));
        Assert.Equal(ErrorCode.StaleMemberEpoch, h.Manager.ValidateOffsetCommit("g", "m1", 0));
        Assert.Equal(ErrorCode.UnknownMemberId, h.Manager.ValidateOffsetCommit("g", "zz", 1));
        Assert.Equal(ErrorCode.None, h.Manager.ValidateOffsetCommit("g", "", -1));
        Assert.Equal(ErrorCode.GroupIdNotFound, h.Manager.ValidateOffsetCommit("other", "m1", 1));
        Assert.Equal(ErrorCode.None, h.Manager.ValidateOffsetFetch("g", null, -1));
        Assert.Equal(ErrorCode.StaleMemberEpoch, h.Manager.ValidateOffsetFetch("g", "m1", 3));
    }

    [Fact]
    public void A_reloaded_manager_has_the_same_state_and_fresh_sessions()
    {
        var h = new ConsumerGroupHarness();
        h.AddTopic("a", 6);
        h.Join("m1", ["a"]);
        h.Join("m2", ["a"]);
        h.Clients["m1"].Heartbeat(); // m1 now has partitions pending revocation
        var reloaded = new ConsumerGroupManager();
        foreach (var r in h.Log)
        {
            Assert.True(ConsumerGroupRecord.TryParse(r.KeyBytes(), r.ValueBytes(), out var parsed, out _));
            reloaded.Replay(parsed!);
        }
        Assert.Equal(h.Manager.Dump(), reloaded.Dump());
        reloaded.OnLoaded(5_000);
        Assert.Equal(50_000, reloaded.SessionDeadline("g", "m1"));
        Assert.Equal(35_000, reloaded.RevocationDeadline("g", "m1"));
        Assert.Null(reloaded.RevocationDeadline("g", "m2"));
        Assert.Equal(35_000, reloaded.NextDeadlineMs);
    }

    [Fact]
    public void Record_bytes_have_kafka_layout_and_bad_bytes_are_refused()
    {
        var rec = ConsumerGroupRecord.MemberMetadata("grp", "mem", new ConsumerGroupMemberMetadataValue { ClientId = "c", ClientHost = "h", SubscribedTopicNames = ["t"] });
        var key = rec.KeyBytes();
        // int16 type 5, then int16-length strings "grp" and "mem".
        Assert.Equal(new byte[] { 0, 5, 0, 3, (byte)'g', (byte)'r', (byte)'p', 0, 3, (byte)'m', (byte)'e', (byte)'m' }, key);
        var value = rec.ValueBytes()!;
        Assert.Equal(new byte[] { 0, 0 }, value[..2]);
        Assert.True(ConsumerGroupRecord.IsConsumerGroupKey(key));
        Assert.True(ConsumerGroupRecord.TryParse(key, value, out var parsed, out _));
        Assert.Equal("grp", parsed!.GroupId);
        Assert.Equal(["t"], ((ConsumerGroupMemberMetadataValue)parsed.Value!).SubscribedTopicNames);

        Assert.False(ConsumerGroupRecord.IsConsumerGroupKey(new byte[] { 0, 1, 0, 0 })); // an offset commit key
        Assert.False(ConsumerGroupRecord.TryParse(new byte[] { 0, 2, 0, 1, 65 }, null, out _, out var e1));
        Assert.NotNull(e1);
        Assert.False(ConsumerGroupRecord.TryParse(new byte[] { 0, 5, 0, 9, 65 }, null, out _, out _)); // truncated
        Assert.False(ConsumerGroupRecord.TryParse(key, new byte[] { 0, 1, 0 }, out _, out _)); // unknown value version
        Assert.False(ConsumerGroupRecord.TryParse(key, new byte[] { 0, 0, 0xff }, out _, out _)); // garbage value
        Assert.True(ConsumerGroupRecord.TryParse(key, null, out var tomb, out _));
        Assert.True(tomb!.IsTombstone);
    }

    [Fact]
    public void Replaying_a_record_that_gives_an_owned_partition_to_another_member_is_refused()
    {
        var m = new ConsumerGroupManager();
        var t = new Uuid(1, 2);
        ConsumerGroupCurrentMemberAssignmentValue Owning() => new()
        {
            MemberEpoch = 1, PreviousMemberEpoch = 0, State = 1,
            AssignedPartitions = [new() { TopicId = t, Partitions = [0] }],
        };
        m.Replay(ConsumerGroupRecord.CurrentMemberAssignment("g", "a", Owning()));
        Assert.Throws<InvalidOperationException>(() => m.Replay(ConsumerGroupRecord.CurrentMemberAssignment("g", "b", Owning())));
    }
}
